import type { FastifyRequest } from "fastify";

type RouteOptions = FastifyRequest["routeOptions"];
import { actorOf } from "../core/actor.js";
import type { RequestMeta } from "../services/accounts/accounts.js";
import type { Caller } from "../services/keys/api-keys.js";
import type { Principal } from "./auth.js";

/** What routes read off a request; routes share these through this module, not each other. */

declare module "fastify" {
  interface FastifyRequest {
    /** `routeOptions`, read once (see routeOf). */
    route: FastifyRequest["routeOptions"] | null;
  }
}

/**
 * The request's route options. Fastify's `request.routeOptions` is a getter that builds a new
 * object on every read; the auth, usage and metrics hooks read it five times per request.
 */
export function routeOf(request: FastifyRequest): RouteOptions {
  return (request.route ??= request.routeOptions);
}

/** The principal of an authenticated route (the auth hook guarantees it). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new TypeError("route has no auth mode but reads the principal");
  return request.principal;
}

/** The audit actor of an authenticated request (`key:<id>` or `session:<id>`). */
export function actorOfRequest(request: FastifyRequest): string {
  const p = principalOf(request);
  const actor = actorOf({ keyId: p.key?.id, sessionId: p.sessionId });
  if (!actor) throw new TypeError("an authenticated principal has a key or a session");
  return actor;
}

/** Address and user agent, for audit entries and throttles. */
export function requestMeta(request: FastifyRequest): RequestMeta {
  const agent = request.headers["user-agent"];
  return { ip: request.ip ?? null, userAgent: typeof agent === "string" ? agent : null };
}

/** The caller of a key-management route: who they are, what they may do, where from. */
export function callerOf(request: FastifyRequest): Caller {
  const p = principalOf(request);
  return {
    user: p.user,
    scopes: p.scopes,
    keyId: p.key?.id ?? null,
    projectId: p.key?.projectId ?? null,
    actor: actorOfRequest(request),
    ip: request.ip,
    member: p.member,
  };
}
