import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { routeSecurity } from "../helpers/route-security.js";
import {
  call,
  client,
  PASSWORD,
  signupAndLogin,
  uniqueEmail,
  expectError,
} from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";

describeEachStore("accounts and sessions", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    server = await startTestServer({ store });
    api = client(server.url);
  });
  afterAll(async () => server?.close());

  it("makes the first account staff and later ones not", async () => {
    const first = await api.post("/v1/auth/signup", {
      email: uniqueEmail("first"),
      password: PASSWORD,
    });
    expect(first.status).toBe(201);
    expect(first.body.user.staff).toBe(true);
    const second = await api.post("/v1/auth/signup", {
      email: uniqueEmail("second"),
      password: PASSWORD,
    });
    expect(second.status).toBe(201);
    expect(second.body.user.staff).toBe(false);
    expect(second.body.user).not.toHaveProperty("password_hash");
  });

  it("refuses short, overlong and common passwords, naming the field", async () => {
    for (const password of ["short", "x".repeat(257), "password123", "1234567890"]) {
      const reply = await api.post("/v1/auth/signup", { email: uniqueEmail(), password });
      expect(reply.status).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
      expect(reply.body.error.details[0].field).toBe("password");
    }
  });

  it("answers 409 conflict for a taken email, whatever its case", async () => {
    const email = uniqueEmail("taken");
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const again = await api.post("/v1/auth/signup", {
      email: email.toUpperCase(),
      password: PASSWORD,
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("conflict");
  });

  it("creates exactly one account when one email signs up concurrently", async () => {
    const email = uniqueEmail("race");
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => api.post("/v1/auth/signup", { email, password: PASSWORD })),
    );
    expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
    expect(replies.filter((r) => r.status === 409)).toHaveLength(9);
  });

  it("logs in with EdDSA access tokens verifiable against the JWKS", async () => {
    const user = await signupAndLogin(server.url);
    const jwks = await api.get("/.well-known/jwks.json");
    expect(jwks.status).toBe(200);
    const { payload, protectedHeader } = await jwtVerify(
      user.accessToken,
      createLocalJWKSet(jwks.body),
    );
    expect(protectedHeader.alg).toBe("EdDSA");
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload.sub).toBe(user.userId);
    expect(payload.amr).toEqual(["pwd"]);
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(typeof payload.sid).toBe("string");
  });

  it("answers wrong password and unknown email with the same error", async () => {
    const user = await signupAndLogin(server.url);
    const wrong = await api.post("/v1/auth/login", {
      email: user.email,
      password: "not-the-password-at-all",
    });
    const unknown = await api.post("/v1/auth/login", {
      email: uniqueEmail("ghost"),
      password: "not-the-password-at-all",
    });
    expect(wrong.status).toBe(401);
    expectError(unknown, 401, "invalid_credentials");
    const strip = (b: any) => ({ ...b.error, request_id: undefined });
    expect(strip(wrong.body)).toEqual(strip(unknown.body));
    expect(wrong.body.error.code).toBe("invalid_credentials");
  });

  it("shows whoami with the effective scopes of a session", async () => {
    const user = await signupAndLogin(server.url);
    const me = await api.get("/v1/auth/whoami", { token: user.accessToken });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      user_id: user.userId,
      email: user.email,
      credential_type: "session",
      key_id: null,
    });
    expect(me.body.scopes).toContain("keys:write");
    expect(me.body.scopes).not.toContain("admin:*");
  });

  it("rotates refresh tokens and ends the family when a spent one comes back", async () => {
    const user = await signupAndLogin(server.url);
    const first = await api.post("/v1/auth/refresh", { refresh_token: user.refreshToken });
    expect(first.status).toBe(200);
    expect(first.body.refresh_token).not.toBe(user.refreshToken);
    const second = await api.post("/v1/auth/refresh", { refresh_token: first.body.refresh_token });
    expect(second.status).toBe(200);

    const reuse = await api.post("/v1/auth/refresh", { refresh_token: user.refreshToken });
    expect(reuse.status).toBe(401);
    expect(reuse.body.error.code).toBe("refresh_token_reused");
    // The whole family is over: the newest refresh token and the access tokens too.
    const newest = await api.post("/v1/auth/refresh", { refresh_token: second.body.refresh_token });
    expectError(newest, 401, "refresh_token_reused");
    const me = await api.get("/v1/auth/whoami", { token: second.body.access_token });
    expect(me.status).toBe(401);
    expect(me.body.error.code).toBe("token_invalid");

    const audit = await api.get("/v1/audit-log?event=refresh_token_reused", {
      token: (await signupAndLoginAgain(user.email)).accessToken,
    });
    expect(audit.body.events.length).toBeGreaterThanOrEqual(1);
  });

  async function signupAndLoginAgain(email: string) {
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    return { accessToken: login.body.access_token as string };
  }

  it("gives exactly one success when one refresh token is used twice at once", async () => {
    const user = await signupAndLogin(server.url);
    const replies = await Promise.all(
      [0, 1].map(() => api.post("/v1/auth/refresh", { refresh_token: user.refreshToken })),
    );
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    expect(replies.filter((r) => r.status === 401)).toHaveLength(1);
  });

  it("lists sessions, ends one, and logs out", async () => {
    const user = await signupAndLogin(server.url);
    const other = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    const list = await api.get("/v1/auth/sessions", { token: user.accessToken });
    expect(list.status).toBe(200);
    expect(list.body.sessions).toHaveLength(2);
    expect(list.body.sessions.filter((s: any) => s.current)).toHaveLength(1);
    const otherId = list.body.sessions.find((s: any) => !s.current).id;

    expect(
      (await api.delete(`/v1/auth/sessions/${otherId}`, { token: user.accessToken })).status,
    ).toBe(204);
    expectError(
      await api.get("/v1/auth/whoami", { token: other.body.access_token }),
      401,
      "token_invalid",
    );
    expectError(
      await api.delete(`/v1/auth/sessions/${otherId}`, { token: user.accessToken }),
      404,
      "not_found",
    );

    expect((await api.post("/v1/auth/logout", undefined, { token: user.accessToken })).status).toBe(
      204,
    );
    expectError(
      await api.get("/v1/auth/whoami", { token: user.accessToken }),
      401,
      "token_invalid",
    );
    expectError(
      await api.post("/v1/auth/refresh", { refresh_token: user.refreshToken }),
      401,
      "refresh_token_reused",
    );
  });

  it("refuses missing, malformed and tampered bearer credentials", async () => {
    const user = await signupAndLogin(server.url);
    const none = await api.get("/v1/auth/whoami");
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("unauthenticated");
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    const [h, p, s] = user.accessToken.split(".");
    const tampered = await api.get("/v1/auth/whoami", { token: `${h}.${p}x.${s}` });
    expect(tampered.body.error.code).toBe("token_invalid");
    const basic = await api.get("/v1/auth/whoami", {
      headers: { authorization: "Basic Zm9vOmJhcg==" },
    });
    expectError(basic, 401, "unauthenticated");
  });

  it("shows users their own audit events and staff everyone's", async () => {
    const user = await signupAndLogin(server.url);
    const own = await api.get("/v1/audit-log", { token: user.accessToken });
    expect(own.status).toBe(200);
    expect(own.body.events.every((e: any) => e.user_id === user.userId)).toBe(true);
    expect(own.body.events.map((e: any) => e.event)).toEqual(
      expect.arrayContaining(["signup", "login"]),
    );
  });

  // The common checks for every route of the group (test/helpers/route-security.ts).
  routeSecurity("auth", () => server);
  routeSecurity("audit", () => server);
});

describeEachStore("errors, limits and operations", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    server = await startTestServer({ store, env: { LATCHKEY_LOGIN_MAX_FAILURES: "3" } });
    api = client(server.url);
  });
  afterAll(async () => server?.close());

  it("answers unknown routes with 404 JSON and a request id", async () => {
    const reply = await api.get("/v1/nothing-here");
    expect(reply.status).toBe(404);
    expect(reply.body.error.code).toBe("not_found");
    expect(reply.body.error.request_id).toBe(reply.headers.get("x-request-id"));
  });

  it("answers malformed JSON, wrong types and unknown fields with 400 and details", async () => {
    const malformed = await call(server.url, "POST", "/v1/auth/login", { raw: '{"email": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("invalid_request");
    const wrong = await api.post("/v1/auth/login", { email: "a@b.co", password: 5 });
    expectError(wrong, 400, "invalid_request");
    expect(wrong.body.error.details.map((d: any) => d.field)).toContain("password");
    const unknown = await api.post("/v1/auth/login", {
      email: "a@b.co",
      password: "x",
      admin: true,
    });
    expectError(unknown, 400, "invalid_request");
    expect(unknown.body.error.details).toContainEqual({ field: "admin", message: "unknown field" });
  });

  it("answers bodies over 64 KiB with 413 payload_too_large", async () => {
    const reply = await api.post("/v1/auth/signup", {
      email: "a@b.co",
      password: "x".repeat(70 * 1024),
    });
    expect(reply.status).toBe(413);
    expect(reply.body.error.code).toBe("payload_too_large");
  });

  it("throttles failed logins per account with 429 and retry_after", async () => {
    const user = await signupAndLogin(server.url);
    for (let i = 0; i < 3; i++) {
      expectError(
        await api.post("/v1/auth/login", { email: user.email, password: "wrong-password-here" }),
        401,
        "invalid_credentials",
      );
    }
    const blocked = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe("too_many_attempts");
    expect(blocked.body.error.retry_after).toBeGreaterThan(0);
    expect(blocked.headers.get("retry-after")).toBe(String(blocked.body.error.retry_after));
  });

  it("serves OpenAPI, health, readiness and Prometheus metrics", async () => {
    const openapi = await api.get("/openapi.json");
    expect(openapi.status).toBe(200);
    expect(openapi.body.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.body.paths)).toEqual(
      expect.arrayContaining(["/v1/auth/login", "/v1/auth/whoami"]),
    );
    expect(openapi.body.paths["/v1/auth/login"].post.requestBody).toBeTruthy();
    expect((await api.get("/healthz")).status).toBe(200);
    const ready = await api.get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.database).toBe(true);
    const metrics = await api.get("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(
      /latchkey_http_requests_total\{method="GET",route="\/readyz",status="200"\} \d+/,
    );
    expect(metrics.body).toContain("latchkey_http_request_duration_seconds_bucket");
  });
});
