import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import {
  Reauthenticated,
  ReauthenticateBody,
  type ReauthenticateBodyT,
  type ReauthenticatedT,
} from "../api/lifecycle.js";
import { ErrorBody } from "../api/schemas.js";
import type { Services } from "../services/index.js";
import type { Reauthenticated as Fresh } from "../services/accounts/reauthentication.js";
import { actorOfRequest, principalOf, requestMeta } from "./request.js";

const bearer = [{ bearer: [] }];

export const REAUTHENTICATE_ERRORS = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  429: ErrorBody,
} as const;

/** Runs the reauthentication for the request's own session (shared with the portal's route). */
export function reauthenticateRequest(
  services: Services,
  request: FastifyRequest,
  body: ReauthenticateBodyT,
): Promise<Fresh> {
  const principal = principalOf(request);
  const { password, code, backup_code, passkey } = body;
  return services.reauthentication.reauthenticate(
    principal.user,
    principal.sessionId!,
    passkey
      ? { passkey: passkey as unknown as AuthenticationResponseJSON }
      : { password: password!, code, backupCode: backup_code },
    requestMeta(request),
    actorOfRequest(request),
  );
}

export function toReauthenticated(services: Services, fresh: Fresh): ReauthenticatedT {
  return {
    access_token: fresh.accessToken,
    token_type: "Bearer",
    expires_in: fresh.accessTtlSeconds,
    auth_time: new Date(fresh.authTime).toISOString(),
    step_up_expires_at: new Date(
      fresh.authTime + services.deps.config.stepUpMaxAgeMs,
    ).toISOString(),
  };
}

/** SPEC §9: `POST /v1/auth/reauthenticate`, the step-up before sensitive actions. */
export function reauthenticateRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.post(
    "/v1/auth/reauthenticate",
    {
      // A session only: an API key proves no person and has no auth time to renew.
      config: { auth: "session" },
      schema: {
        tags: ["auth"],
        summary:
          "Prove who you are again (password, plus a 2FA code when 2FA is on; or a passkey): a fresh access token for the same session",
        security: bearer,
        body: ReauthenticateBody,
        response: { 200: Reauthenticated, ...REAUTHENTICATE_ERRORS },
      },
    },
    async (request, reply) => {
      const fresh = await reauthenticateRequest(services, request, request.body);
      reply.header("cache-control", "no-store");
      return toReauthenticated(services, fresh);
    },
  );
}
