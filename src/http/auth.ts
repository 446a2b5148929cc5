import type { FastifyInstance, FastifyRequest } from "fastify";
import { LatchkeyError } from "../core/errors.js";
import { hasAll } from "../core/scopes.js";
import type { Services } from "../services/index.js";
import { looksLikeJwt } from "../services/tokens.js";
import type { UserAccess } from "../services/users.js";

/** public: no credential; any: session or API key; session: a signed-in person only. */
export type AuthMode = "public" | "any" | "session";

export interface Principal {
  type: "session" | "api_key";
  user: UserAccess;
  sessionId: string | null;
  amr: string[];
  key: { id: string; environment: "live" | "test"; projectId: string | null } | null;
  /** Effective scopes: for a session the user's access; for a key its scopes ∩ that access. */
  scopes: ReadonlySet<string>;
}

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: AuthMode;
    scopes?: readonly string[];
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
  const check = await services.ctx.tokens.verify(token);
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
  if (token === null) return null;
  if (looksLikeJwt(token)) return fromAccessToken(services, token);
  return services.apiKeys.authenticate(token, {
    ip: request.ip,
    endpoint: `${request.method} ${request.routeOptions.url ?? request.url}`,
  });
}

/** The bearer-auth hook: every route states its mode and scopes in its config. */
export function registerAuth(app: FastifyInstance, services: Services): void {
  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (request) => {
    const config = request.routeOptions.config;
    const mode = config.auth ?? "public";
    if (mode === "public") return;
    const principal = await authenticate(services, request);
    if (!principal) throw new LatchkeyError("unauthenticated", "a bearer credential is required");
    if (mode === "session" && principal.type !== "session") {
      throw new LatchkeyError("forbidden", "this action needs a signed-in session, not an API key");
    }
    const required = config.scopes ?? [];
    if (!hasAll(principal.scopes, required)) {
      throw new LatchkeyError("scope_insufficient", `this action needs ${required.join(", ")}`, {
        required: [...required],
      });
    }
    request.principal = principal;
  });
}

/** The principal of an authenticated route (the hook guarantees it). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new TypeError("route has no auth mode but reads the principal");
  return request.principal;
}
