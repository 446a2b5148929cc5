import type { FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import type { Services } from "../services/index.js";
import type { Caller } from "../services/keys/api-keys.js";
import { requireStepUp } from "../services/step-up.js";
import { callerOf, principalOf } from "./request.js";

/**
 * SPEC §9 step-up for routes that are always sensitive (disabling 2FA, regenerating backup
 * codes, changing the password): a preHandler, so the refusal comes before the body's codes
 * or passwords are looked at (and before they count against any throttle).
 */
export function stepUp(services: Services, action: string): preHandlerAsyncHookHandler {
  return async function requireRecentAuthentication(request) {
    const principal = principalOf(request);
    requireStepUp(
      services.deps,
      { keyId: principal.key?.id ?? null, authTime: principal.authTime },
      action,
    );
  };
}

/**
 * The caller of a key route with its session's auth time, for the actions that are
 * sensitive only for some keys (creating or rotating a live key with write or admin scopes).
 */
export function stepUpCaller(request: FastifyRequest): Caller {
  return { ...callerOf(request), authTime: principalOf(request).authTime };
}
