import type { FastifyInstance, FastifyRequest } from "fastify";
import { LatchkeyError } from "../core/errors.js";
import { hasAll } from "../core/scopes.js";
import type { RateLimitState } from "../services/keys/check.js";
import type { Services } from "../services/index.js";
import { looksLikeJwt } from "../services/accounts/tokens.js";
import type { Principal } from "../services/principal.js";
import { sessionCookieToken } from "./cookies.js";
import { routeOf } from "./request.js";

/** public: no credential; any: session or API key; session: a signed-in person only. */
export type AuthMode = "public" | "any" | "session";

export type { Principal } from "../services/principal.js";

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: AuthMode;
    scopes?: readonly string[];
    /** false: an API key calling this route does not spend its rate limit (keys:verify services). */
    keyRateLimit?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== "string") return null;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  if (!match)
    throw new LatchkeyError("unauthenticated", "Authorization header must be `Bearer <token>`");
  return match[1]!;
}

async function fromAccessToken(services: Services, token: string): Promise<Principal> {
  const check = await services.deps.tokens.verify(token);
  if (!check.ok) {
    const message =
      check.code === "token_expired" ? "access token has expired" : "access token is not valid";
    throw new LatchkeyError(check.code, message);
  }
  const { sub, sid, amr } = check.claims;
  const [active, user] = await Promise.all([
    services.sessions.isActive(sid, sub),
    services.users.access(sub),
  ]);
  if (!active || !user) throw new LatchkeyError("token_invalid", "session has ended");
  if (user.disabled) throw new LatchkeyError("unauthenticated", "account is disabled");
  return { type: "session", user, sessionId: sid, amr, key: null, scopes: user.access };
}

/** Resolves the request's credential into a principal (or throws the spec's 401). */
export async function authenticate(
  services: Services,
  request: FastifyRequest,
): Promise<Principal | null> {
  const token = bearerToken(request);
  if (token === null) {
    // The portal's browser session: an access token in an httpOnly cookie (CSRF-checked).
    const cookie = sessionCookieToken(request);
    return cookie === null ? null : fromAccessToken(services, cookie);
  }
  if (looksLikeJwt(token)) return fromAccessToken(services, token);
  const { principal, ratelimit } = await services.keyVerifier.authenticate(token, {
    ip: request.ip,
    endpoint: keyEndpoint(request),
    spend: routeOf(request).config.keyRateLimit !== false,
  });
  if (ratelimit) keyRateLimits.set(request, ratelimit);
  return principal;
}

/** How a call is counted in a key's usage: the route pattern, never the raw URL. */
function keyEndpoint(request: FastifyRequest): string {
  return `${request.method} ${routeOf(request).url ?? "unmatched"}`;
}

const keyRateLimits = new WeakMap<FastifyRequest, RateLimitState>();
const keyOutcomes = new WeakMap<FastifyRequest, string>();

/** Counts every call made with an API key (buffered), with its outcome, once it is answered. */
function registerKeyUsage(app: FastifyInstance, services: Services): void {
  // Callback form: onResponse runs on every request, and an async hook costs a promise.
  app.addHook("onError", (request, _reply, error, done) => {
    if (request.principal?.key)
      keyOutcomes.set(request, error instanceof LatchkeyError ? error.code : "internal");
    done();
  });
  app.addHook("onResponse", (request, reply, done) => {
    const key = request.principal?.key;
    if (key) {
      const outcome =
        keyOutcomes.get(request) ?? (reply.statusCode < 400 ? "ok" : `http_${reply.statusCode}`);
      services.keyVerifier.record(key.id, keyEndpoint(request), key.projectId, request.ip, outcome);
    }
    done();
  });
}

/** The bearer-auth hook: every route states its mode and scopes in its config. */
export function registerAuth(app: FastifyInstance, services: Services): void {
  app.decorateRequest("principal", null);
  registerKeyUsage(app, services);
  app.addHook("onRequest", async (request, reply) => {
    const config = routeOf(request).config;
    const mode = config.auth ?? "public";
    if (mode === "public") return;
    const principal = await authenticate(services, request);
    if (!principal) throw new LatchkeyError("unauthenticated", "a bearer credential is required");
    const ratelimit = keyRateLimits.get(request);
    if (ratelimit) {
      reply.header("x-ratelimit-limit", String(ratelimit.limit));
      reply.header("x-ratelimit-remaining", String(ratelimit.remaining));
      reply.header("x-ratelimit-reset", String(Math.ceil(ratelimit.reset / 1000)));
    }
    try {
      if (mode === "session" && principal.type !== "session") {
        throw new LatchkeyError(
          "forbidden",
          "this action needs a signed-in session, not an API key",
        );
      }
      const required = config.scopes ?? [];
      if (!hasAll(principal.scopes, required)) {
        throw new LatchkeyError("scope_insufficient", `this action needs ${required.join(", ")}`, {
          required: [...required],
        });
      }
    } catch (error) {
      // A refused call still counts in the key's usage, with why it was refused.
      if (principal.key && error instanceof LatchkeyError)
        services.keyVerifier.record(
          principal.key.id,
          keyEndpoint(request),
          principal.key.projectId,
          request.ip,
          error.code,
        );
      throw error;
    }
    request.principal = principal;
  });
}
