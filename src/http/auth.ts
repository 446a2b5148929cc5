import { actorOf } from "../core/actor.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { LatchkeyError } from "../core/errors.js";
import { hasAll } from "../core/scopes.js";
import type { Settled } from "../core/settled.js";
import type { RateLimitState } from "../services/keys/check.js";
import type { KeyAuthentication } from "../services/keys/verify.js";
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
    /** false: a token exchanged for a key is refused here (minting keys, exchanging). */
    exchangedTokens?: boolean;
    /**
     * true: a `Latchkey-Org: <org id>` header makes a member act in that organization (issue
     * 16): the principal becomes the organization's account with the member's share of it.
     */
    orgContext?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
    /** The API key's rate-limit window after this call, for the `x-ratelimit-*` headers. */
    keyRateLimit: RateLimitState | null;
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

/** `fromCookie`: the portal's cookie only ever holds a session's token, never a key's. */
async function fromAccessToken(
  services: Services,
  token: string,
  fromCookie = false,
): Promise<Principal> {
  const check = await services.deps.tokens.check(token);
  if (!check.ok) {
    const message =
      check.code === "token_expired" ? "access token has expired" : "access token is not valid";
    throw new LatchkeyError(check.code, message);
  }
  if (check.kind === "key") {
    if (fromCookie) throw new LatchkeyError("token_invalid", "access token is not valid");
    return services.keyExchange.principal(check.claims);
  }
  const { sub, sid, amr, auth_time } = check.claims;
  const [active, user] = await Promise.all([
    services.sessions.isActive(sid, sub),
    services.users.access(sub),
  ]);
  if (!active || !user) throw new LatchkeyError("token_invalid", "session has ended");
  if (user.disabled) throw new LatchkeyError("unauthenticated", "account is disabled");
  return {
    type: "session",
    user,
    sessionId: sid,
    amr,
    authTime: auth_time * 1000,
    key: null,
    scopes: user.access,
  };
}

/**
 * Resolves the request's credential into a principal, or the spec's 401 (thrown for a
 * malformed header, else a rejected promise). An API key found in memory answers in this turn.
 */
export function authenticate(
  services: Services,
  request: FastifyRequest,
): Settled<Principal | null> {
  const token = bearerToken(request);
  if (token === null) {
    // The portal's browser session: an access token in an httpOnly cookie (CSRF-checked).
    const cookie = sessionCookieToken(request, services.deps.config.secureCookies);
    return cookie === null ? null : fromAccessToken(services, cookie, true);
  }
  if (looksLikeJwt(token)) return fromAccessToken(services, token);
  const auth = services.keyVerifier.authenticate(token, {
    ip: request.ip,
    endpoint: keyEndpoint(request),
    spend: routeOf(request).config.keyRateLimit !== false,
  });
  return auth instanceof Promise
    ? auth.then((settled) => keyPrincipal(request, settled))
    : keyPrincipal(request, auth);
}

function keyPrincipal(request: FastifyRequest, { principal, ratelimit }: KeyAuthentication) {
  request.keyRateLimit = ratelimit;
  return principal;
}

/** Each route's usage name per method, made once (a string a Map has hashed before). */
const endpointNames = new WeakMap<object, Map<string, string>>();

/** How a call is counted in a key's usage: the route pattern, never the raw URL. */
function keyEndpoint(request: FastifyRequest): string {
  const route = routeOf(request);
  let names = endpointNames.get(route.config);
  if (!names) endpointNames.set(route.config, (names = new Map()));
  let name = names.get(request.method);
  if (name === undefined)
    names.set(request.method, (name = `${request.method} ${route.url ?? "unmatched"}`));
  return name;
}

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
  app.decorateRequest("keyRateLimit", null);
  registerKeyUsage(app, services);
  // Callback form, and no promise at all when the credential is answered from memory.
  app.addHook("onRequest", (request, reply, done) => {
    const config = routeOf(request).config;
    const mode = config.auth ?? "public";
    if (mode === "public") return done();
    let principal: Settled<Principal | null>;
    try {
      principal = authenticate(services, request);
    } catch (error) {
      return done(error as Error);
    }
    const org = config.orgContext === true ? request.headers[ORG_HEADER] : undefined;
    if (org !== undefined)
      principal = Promise.resolve(principal).then((found) => inOrg(services, request, found, org));
    if (principal instanceof Promise)
      principal.then((found) => done(admit(services, request, reply, found) ?? undefined), done);
    else done(admit(services, request, reply, principal) ?? undefined);
  });
}

/** The header that names the organization a request acts in (routes with `orgContext`). */
export const ORG_HEADER = "latchkey-org";

/**
 * The principal acting in the organization the header names: its account, the member's share
 * of their scopes (a personal key: reads only), read fresh from the store. Not a member: 404.
 */
async function inOrg(
  services: Services,
  request: FastifyRequest,
  principal: Principal | null,
  header: string | string[],
): Promise<Principal | null> {
  if (!principal) return null;
  const orgId = Array.isArray(header) ? header[0]! : header.trim();
  if (orgId === "" || orgId === principal.user.id) return principal;
  const actor = actorOf({ keyId: principal.key?.id, sessionId: principal.sessionId });
  const ctx = await services.orgs.context(
    {
      user: principal.user,
      scopes: principal.scopes,
      keyId: principal.key?.id ?? null,
      projectId: principal.key?.projectId ?? null,
      actor: actor ?? "",
      ip: request.ip,
      authTime: principal.authTime,
    },
    orgId,
  );
  return {
    ...principal,
    user: ctx.caller.user,
    scopes: ctx.caller.scopes,
    member: ctx.caller.member,
  };
}

/** Lets an authenticated principal through to the route, or says why not. */
function admit(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
  principal: Principal | null,
): LatchkeyError | null {
  if (!principal) return new LatchkeyError("unauthenticated", "a bearer credential is required");
  const ratelimit = request.keyRateLimit;
  if (ratelimit) {
    reply.header("x-ratelimit-limit", String(ratelimit.limit));
    reply.header("x-ratelimit-remaining", String(ratelimit.remaining));
    reply.header("x-ratelimit-reset", String(Math.ceil(ratelimit.reset / 1000)));
  }
  const config = routeOf(request).config;
  const refused =
    principal.exchanged && config.exchangedTokens === false
      ? new LatchkeyError("forbidden", "a token exchanged for a key cannot do this; use the key")
      : refusalOf(principal, config.auth ?? "public", config.scopes ?? []);
  if (refused) {
    // A refused call still counts in the key's usage, with why it was refused.
    if (principal.key)
      services.keyVerifier.record(
        principal.key.id,
        keyEndpoint(request),
        principal.key.projectId,
        request.ip,
        refused.code,
      );
    return refused;
  }
  request.principal = principal;
  return null;
}

function refusalOf(
  principal: Principal,
  mode: AuthMode,
  required: readonly string[],
): LatchkeyError | null {
  if (mode === "session" && principal.type !== "session")
    return new LatchkeyError("forbidden", "this action needs a signed-in session, not an API key");
  if (!hasAll(principal.scopes, required))
    return new LatchkeyError("scope_insufficient", `this action needs ${required.join(", ")}`, {
      required: [...required],
    });
  return null;
}
