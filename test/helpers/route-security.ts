/**
 * The checks every authenticated route must pass, from one table of routes (Unkey's
 * runCommonRouteTests is the model). A route group's test file calls
 * `routeSecurity("<group>", () => server)`; test/http/routes.test.ts fails when the API
 * has a route the table does not list, or a group no test file runs.
 *
 * For each route, as applicable (SPEC §5 codes, each with its status):
 * - no credential → 401 `unauthenticated`; a malformed Authorization header → 401
 *   `unauthenticated`; an unknown key → 401 `key_invalid`; the access token of an ended
 *   session → 401 `token_invalid`; a revoked key → 401 `key_revoked`;
 * - an API key on a session-only route → 403 `forbidden`; a key without the route's scopes
 *   → 403 `scope_insufficient` with `required`; a signed-in user whose access lacks them
 *   (staff-only and service-only routes) → 403 `scope_insufficient`;
 * - another user's resource → 404 `not_found`, and that resource is left as it was.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_SCOPE } from "../../src/core/scopes.js";
import { expectSpecError } from "../security/support.js";
import { client, PASSWORD, signupAndLogin, uniqueEmail, type Reply } from "./http.js";

export type Method = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";

export interface RouteSpec {
  method: Method;
  /** The route pattern as Fastify registers it (`:id` for a path parameter). */
  path: string;
  /** public: no credential; any: a session or an API key; session: a signed-in person only. */
  auth: "public" | "any" | "session";
  /** Scopes the route requires. */
  scopes?: readonly string[];
  /** `:id` names one of the caller's: answers 404 for another user's. */
  owns?: "api_key" | "session";
  /** A valid body, so a refusal is about the caller and never about the input. */
  body?: unknown;
}

const read = { auth: "any", scopes: ["keys:read"] } as const;
const write = { auth: "any", scopes: ["keys:write"] } as const;
const admin = { auth: "any", scopes: [ADMIN_SCOPE] } as const;
const hooksRead = { auth: "any", scopes: ["webhooks:read"] } as const;
const hooksWrite = { auth: "any", scopes: ["webhooks:write"] } as const;

/** Every route of the API, by group. A new route goes here, or routes.test.ts fails. */
export const ROUTES = {
  auth: [
    { method: "POST", path: "/v1/auth/signup", auth: "public" },
    { method: "POST", path: "/v1/auth/login", auth: "public" },
    { method: "POST", path: "/v1/auth/refresh", auth: "public" },
    { method: "POST", path: "/v1/auth/logout", auth: "session" },
    { method: "GET", path: "/v1/auth/sessions", auth: "session" },
    { method: "DELETE", path: "/v1/auth/sessions/:id", auth: "session", owns: "session" },
    { method: "GET", path: "/v1/auth/whoami", auth: "any" },
    { method: "GET", path: "/.well-known/jwks.json", auth: "public" },
    {
      method: "POST",
      path: "/v1/auth/password",
      auth: "session",
      body: { current_password: "a-long-old-password", new_password: "a-long-new-password" },
    },
    { method: "POST", path: "/v1/auth/password/reset", auth: "public" },
    { method: "POST", path: "/v1/auth/password/reset/confirm", auth: "public" },
    { method: "POST", path: "/v1/auth/email/verify", auth: "public" },
    { method: "POST", path: "/v1/auth/email/verify/resend", auth: "session" },
    {
      method: "POST",
      path: "/v1/auth/email",
      auth: "session",
      body: { email: "route-security-new@example.test" },
    },
    {
      method: "POST",
      path: "/v1/auth/reauthenticate",
      auth: "session",
      body: { password: "a-long-old-password" },
    },
  ],
  twofa: [
    { method: "POST", path: "/v1/auth/2fa/setup", auth: "session" },
    { method: "POST", path: "/v1/auth/2fa/verify", auth: "session", body: { code: "123456" } },
    { method: "GET", path: "/v1/auth/2fa/status", auth: "session" },
    { method: "POST", path: "/v1/auth/2fa/disable", auth: "session", body: { code: "123456" } },
    {
      method: "POST",
      path: "/v1/auth/2fa/backup-codes",
      auth: "session",
      body: { code: "123456" },
    },
    { method: "POST", path: "/v1/auth/login/mfa", auth: "public" },
  ],
  // Passkeys are a person's (session only); another user's passkey: test/http/passkeys.test.ts.
  passkeys: [
    { method: "GET", path: "/v1/auth/passkeys", auth: "session" },
    { method: "POST", path: "/v1/auth/passkeys/register/options", auth: "session" },
    { method: "POST", path: "/v1/auth/passkeys/register", auth: "session" },
    { method: "PATCH", path: "/v1/auth/passkeys/:id", auth: "session", body: { name: "n" } },
    { method: "DELETE", path: "/v1/auth/passkeys/:id", auth: "session" },
    { method: "POST", path: "/v1/auth/passkeys/login/options", auth: "public" },
    { method: "POST", path: "/v1/auth/passkeys/login", auth: "public" },
    { method: "POST", path: "/v1/auth/passkeys/reauthenticate/options", auth: "session" },
  ],
  "api-keys": [
    { method: "POST", path: "/v1/api-keys", ...write, body: { name: "x", scopes: ["logs:read"] } },
    { method: "GET", path: "/v1/api-keys", ...read },
    { method: "GET", path: "/v1/api-keys/:id", ...read, owns: "api_key" },
    { method: "GET", path: "/v1/api-keys/:id/activity", ...read, owns: "api_key" },
    { method: "PATCH", path: "/v1/api-keys/:id", ...write, owns: "api_key", body: { name: "y" } },
    { method: "DELETE", path: "/v1/api-keys/:id", ...write, owns: "api_key" },
    { method: "POST", path: "/v1/api-keys/:id/rotate", ...write, owns: "api_key", body: {} },
  ],
  projects: [
    {
      method: "POST",
      path: "/v1/projects",
      auth: "any",
      scopes: ["projects:write"],
      body: { name: "p" },
    },
    { method: "GET", path: "/v1/projects", auth: "any", scopes: ["projects:read"] },
  ],
  audit: [{ method: "GET", path: "/v1/audit-log", auth: "any", scopes: ["audit:read"] }],
  admin: [
    { method: "GET", path: "/v1/admin/users", ...admin },
    { method: "PATCH", path: "/v1/admin/users/:id", ...admin, body: { plan: "pro" } },
    { method: "DELETE", path: "/v1/admin/users/:id/sessions", ...admin },
    { method: "GET", path: "/v1/admin/owners/:id/ratelimits", ...admin },
    {
      method: "PATCH",
      path: "/v1/admin/owners/:id/ratelimits",
      ...admin,
      body: { ratelimits: [{ name: "api", limit: 100, window: "1m" }] },
    },
  ],
  revocations: [
    { method: "GET", path: "/v1/keys/revocations", auth: "any", scopes: ["keys:verify"] },
  ],
  verify: [
    {
      method: "POST",
      path: "/v1/keys/verify",
      auth: "any",
      scopes: ["keys:verify"],
      body: { key: "lk_live_x" },
    },
  ],
  "key-usage": [
    {
      method: "POST",
      path: "/v1/keys/usage",
      auth: "any",
      scopes: ["keys:verify"],
      body: { uses: [{ key_id: "key_x", count: 1 }] },
    },
  ],
  // Any API key may buy a short-lived token for itself (test/http/key-exchange.test.ts).
  exchange: [{ method: "POST", path: "/v1/keys/exchange", auth: "any", body: {} }],
  // Anyone may report a leak; a credential only adds per-key outcomes (test/http/leaks.test.ts).
  leaks: [
    { method: "POST", path: "/v1/keys/leaks", auth: "public" },
    { method: "GET", path: "/v1/keys/leaks/policy", ...read },
    { method: "PUT", path: "/v1/keys/leaks/policy", auth: "session", body: { policy: "revoke" } },
  ],
  // Webhook endpoints (test/http/webhooks.test.ts); another user's answers 404 there.
  webhooks: [
    { method: "GET", path: "/v1/webhooks/event-types", ...hooksRead },
    {
      method: "POST",
      path: "/v1/webhooks",
      ...hooksWrite,
      body: { url: "https://hooks.example.com/x", events: ["key.created"] },
    },
    { method: "GET", path: "/v1/webhooks", ...hooksRead },
    { method: "GET", path: "/v1/webhooks/:id", ...hooksRead },
    { method: "PATCH", path: "/v1/webhooks/:id", ...hooksWrite, body: { description: "x" } },
    { method: "DELETE", path: "/v1/webhooks/:id", ...hooksWrite },
    { method: "POST", path: "/v1/webhooks/:id/rotate-secret", ...hooksWrite },
    { method: "POST", path: "/v1/webhooks/:id/test", ...hooksWrite },
    { method: "GET", path: "/v1/webhooks/:id/deliveries", ...hooksRead },
    { method: "GET", path: "/v1/webhooks/:id/deliveries/:delivery_id", ...hooksRead },
    {
      method: "POST",
      path: "/v1/webhooks/:id/deliveries/:delivery_id/redeliver",
      ...hooksWrite,
    },
  ],
  // Organizations (test/http/orgs.test.ts): a non-member gets 404 there, as for a missing one.
  orgs: [
    { method: "POST", path: "/v1/orgs", auth: "session", body: { name: "Acme" } },
    { method: "GET", path: "/v1/orgs", auth: "any" },
    { method: "GET", path: "/v1/orgs/:id", auth: "any" },
    { method: "PATCH", path: "/v1/orgs/:id", auth: "session", body: { name: "Acme" } },
    { method: "DELETE", path: "/v1/orgs/:id", auth: "session" },
    { method: "GET", path: "/v1/orgs/:id/policy", auth: "any" },
    {
      method: "PATCH",
      path: "/v1/orgs/:id/policy",
      auth: "session",
      body: { require_2fa: false },
    },
    { method: "GET", path: "/v1/orgs/:id/members", auth: "any" },
    {
      method: "PATCH",
      path: "/v1/orgs/:id/members/:user_id",
      auth: "session",
      body: { role: "member" },
    },
    { method: "DELETE", path: "/v1/orgs/:id/members/:user_id", auth: "session" },
    {
      method: "POST",
      path: "/v1/orgs/:id/invitations",
      auth: "session",
      body: { email: "someone@example.test", role: "member" },
    },
    { method: "GET", path: "/v1/orgs/:id/invitations", auth: "any" },
    { method: "DELETE", path: "/v1/orgs/:id/invitations/:invitation_id", auth: "session" },
    { method: "POST", path: "/v1/invitations/accept", auth: "session", body: { token: "x" } },
    {
      method: "POST",
      path: "/v1/orgs/:id/api-keys",
      ...write,
      body: { name: "ci", scopes: ["services:read"] },
    },
    { method: "GET", path: "/v1/orgs/:id/api-keys", ...read },
    {
      method: "POST",
      path: "/v1/orgs/:id/projects",
      auth: "any",
      scopes: ["projects:write"],
      body: { name: "web" },
    },
    { method: "GET", path: "/v1/orgs/:id/projects", auth: "any", scopes: ["projects:read"] },
    { method: "GET", path: "/v1/orgs/:id/audit-log", auth: "any", scopes: ["audit:read"] },
  ],
  // The portal's browser session (cookies, CSRF-checked): its own suite in test/browser.
  portal: [
    { method: "GET", path: "/v1/portal/meta", auth: "public" },
    { method: "POST", path: "/v1/portal/signup", auth: "public" },
    { method: "POST", path: "/v1/portal/login", auth: "public" },
    { method: "POST", path: "/v1/portal/login/mfa", auth: "public" },
    { method: "POST", path: "/v1/portal/passkeys/login", auth: "public" },
    { method: "POST", path: "/v1/portal/refresh", auth: "public" },
    { method: "POST", path: "/v1/portal/logout", auth: "public" },
    // Session-only (the cookie, CSRF-checked, or a bearer token): step-up for the portal.
    {
      method: "POST",
      path: "/v1/portal/reauthenticate",
      auth: "session",
      body: { password: "a-long-old-password" },
    },
  ],
} as const satisfies Record<string, readonly RouteSpec[]>;

export type RouteGroup = keyof typeof ROUTES;

/** Scopes a signed-in owner does not have: only staff (admin:*) or service accounts (keys:verify). */
const PRIVILEGED = new Set([ADMIN_SCOPE, "keys:verify"]);

interface Actors {
  /** The caller: a signed-in owner (not staff) with the credentials below. */
  session: string;
  userId: string;
  /** A key of the caller's with `logs:read` only (no route requires it). */
  narrowKey: string;
  /** A key of the caller's with `*`. */
  broadKey: string;
  broadKeyId: string;
  revokedKey: string;
  /** The access token of a session the caller has logged out of. */
  endedSession: string;
  sessionId: string;
  /** Another user and that user's own key and session. */
  other: { session: string; key: string; keyId: string; sessionId: string };
}

async function created(reply: Reply, what: string): Promise<any> {
  expect(reply.status, `${what}: ${JSON.stringify(reply.body)}`).toBeLessThan(300);
  return reply.body;
}

async function actors(base: string): Promise<Actors> {
  const api = client(base);
  // On a fresh server the first account is staff: let it be someone else.
  await signupAndLogin(base, uniqueEmail("route-security-first"));
  const caller = await signupAndLogin(base, uniqueEmail("route-security"));
  const token = caller.accessToken;
  const key = async (scopes: string[], as = token) =>
    created(
      await api.post("/v1/api-keys", { name: "route-security", scopes }, { token: as }),
      "key",
    );
  const revoked = await key(["*"]);
  await created(await api.delete(`/v1/api-keys/${revoked.id}`, { token }), "revoke");
  const narrow = await key(["logs:read"]);
  const broad = await key(["*"]);
  const ended = await created(
    await api.post("/v1/auth/login", { email: caller.email, password: PASSWORD }),
    "login",
  );
  const logout = await api.post("/v1/auth/logout", undefined, { token: ended.access_token });
  expect(logout.status, "logout").toBe(204);
  const other = await signupAndLogin(base, uniqueEmail("route-security-other"));
  const otherKey = await key(["keys:read"], other.accessToken);
  const sessions = await created(
    await api.get("/v1/auth/sessions", { token: other.accessToken }),
    "sessions",
  );
  const whoami = await created(await api.get("/v1/auth/whoami", { token }), "whoami");
  return {
    session: token,
    userId: caller.userId,
    narrowKey: narrow.key,
    broadKey: broad.key,
    broadKeyId: broad.id,
    revokedKey: revoked.key,
    endedSession: ended.access_token,
    sessionId: whoami.session_id,
    other: {
      session: other.accessToken,
      key: otherKey.key,
      keyId: otherKey.id,
      sessionId: sessions.sessions[0].id,
    },
  };
}

function pathOf(route: RouteSpec, a: Actors, whose: "own" | "other"): string {
  if (!route.path.includes(":id")) return route.path;
  const id =
    route.owns === "session"
      ? whose === "own"
        ? a.sessionId
        : a.other.sessionId
      : route.owns === "api_key"
        ? whose === "own"
          ? a.broadKeyId
          : a.other.keyId
        : a.userId;
  return route.path.replace(":id", id);
}

async function send(
  base: string,
  route: RouteSpec,
  path: string,
  headers: Record<string, string>,
): Promise<Reply> {
  const api = client(base);
  const options = { headers };
  switch (route.method) {
    case "GET":
      return api.get(path, options);
    case "DELETE":
      return api.delete(path, options);
    case "POST":
      return api.post(path, route.body, options);
    case "PATCH":
      return api.patch(path, route.body, options);
    case "PUT":
      return api.put(path, route.body, options);
  }
}

function expectError(reply: Reply, status: number, code: string, what: string): void {
  expectSpecError(reply.status, reply.body, what);
  expect({ status: reply.status, code: reply.body.error.code }, what).toEqual({ status, code });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * Registers, for each route of `group`, one test running every check that applies to it.
 * `server` is read when the tests run, so a suite passes the server its beforeAll starts.
 */
export function routeSecurity(group: RouteGroup, server: () => { url: string }): void {
  const routes: readonly RouteSpec[] = ROUTES[group];
  const guarded = routes.filter((route) => route.auth !== "public");
  describe(`route security: ${group}`, () => {
    let a: Actors;
    beforeAll(async () => {
      a = await actors(server().url);
    });

    it.each(guarded.map((route) => [`${route.method} ${route.path}`, route] as const))(
      "%s refuses whoever may not call it, each with its code",
      async (name, route) => {
        const base = server().url;
        const own = pathOf(route, a, "own");
        const refuse = async (
          headers: Record<string, string>,
          status: number,
          code: string,
          who: string,
        ) => expectError(await send(base, route, own, headers), status, code, `${name}: ${who}`);

        await refuse({}, 401, "unauthenticated", "no credential");
        await refuse({ authorization: "Basic dXNlcjpwYXNz" }, 401, "unauthenticated", "not Bearer");
        await refuse(bearer("lk_live_not-a-key"), 401, "key_invalid", "an unknown key");
        await refuse(bearer(a.endedSession), 401, "token_invalid", "an ended session");
        await refuse(bearer(a.revokedKey), 401, "key_revoked", "a revoked key");

        const scopes = route.scopes ?? [];
        if (route.auth === "session") {
          await refuse(bearer(a.broadKey), 403, "forbidden", "an API key on a session route");
        } else if (scopes.length > 0) {
          const reply = await send(base, route, own, bearer(a.narrowKey));
          expectError(reply, 403, "scope_insufficient", `${name}: a key without ${scopes}`);
          expect(reply.body.error.required, name).toEqual(scopes);
        }
        if (scopes.some((scope) => PRIVILEGED.has(scope))) {
          const reply = await send(base, route, own, bearer(a.session));
          expectError(reply, 403, "scope_insufficient", `${name}: an owner without ${scopes}`);
          expect(reply.body.error.required, name).toEqual(scopes);
        }

        if (route.owns) {
          const theirs = pathOf(route, a, "other");
          const reply = await send(base, route, theirs, bearer(a.session));
          expectError(reply, 404, "not_found", `${name}: another user's ${route.owns}`);
          // …and it is left as it was: their key and their session still work.
          const api = client(base);
          expect((await api.get("/v1/auth/whoami", { token: a.other.key })).status).toBe(200);
          expect((await api.get("/v1/auth/whoami", { token: a.other.session })).status).toBe(200);
        }
      },
    );
  });
}
