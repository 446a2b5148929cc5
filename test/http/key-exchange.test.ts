import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { client, expectError, signupAndLogin, type Reply } from "../helpers/http.js";
import { routeSecurity } from "../helpers/route-security.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";

/** POST /v1/keys/exchange (issue 20 item 6): a short-lived JWT for an API key. */
describeEachStore("POST /v1/keys/exchange", (store) => {
  let server: TestServer;
  let owner: Awaited<ReturnType<typeof signupAndLogin>>;
  const api = () => client(server.url);

  beforeAll(async () => {
    server = await startTestServer({
      store,
      env: { LATCHKEY_DEFAULT_PLAN: "enterprise", LATCHKEY_RATE_LIMIT_TEST: "3" },
    });
    await signupAndLogin(server.url); // the first account is staff: let it be someone else
    owner = await signupAndLogin(server.url);
  });
  afterAll(async () => server?.close());

  async function newKey(scopes: string[], extra: Record<string, unknown> = {}) {
    const reply = await api().post(
      "/v1/api-keys",
      { name: "exchange", scopes, ...extra },
      { token: owner.accessToken },
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return reply.body as { id: string; key: string };
  }

  const exchange = (key: string, body?: unknown): Promise<Reply> =>
    api().post("/v1/keys/exchange", body ?? {}, { token: key });

  it("answers a JWT that verifies against the JWKS with the key's claims and narrowed scopes", async () => {
    const { id, key } = await newKey(["services:read", "services:write", "logs:read"]);
    const reply = await exchange(key, { scopes: ["services:read"], expires_in: 120 });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.headers.get("cache-control")).toBe("no-store");
    expect(reply.body).toMatchObject({
      token_type: "Bearer",
      expires_in: 120,
      scope: "services:read",
      scopes: ["services:read"],
      key_id: id,
      owner_id: owner.userId,
      environment: "live",
      project_id: null,
    });
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(reply.body.access_token, jwks, {
      issuer: server.config.issuer,
      audience: [...server.config.tokenAudience],
      typ: "at+jwt",
    });
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload).toMatchObject({
      sub: owner.userId,
      owner_id: owner.userId,
      key_id: id,
      scope: "services:read",
      token_use: "key",
    });
    expect(payload.sid).toBeUndefined();
    expect(typeof payload.jti).toBe("string");
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(Date.parse(reply.body.expires_at)).toBe(payload.exp! * 1000);
  });

  it("gives all of the key's effective scopes by default, for 5 minutes, and caps a longer ask at 15", async () => {
    const { key } = await newKey(["logs:*"]);
    const plain = await exchange(key);
    expect(plain.status).toBe(200);
    expect(plain.body.scopes).toEqual(["logs:read"]);
    expect(plain.body.expires_in).toBe(300);
    const long = await exchange(key, { expires_in: 86_400 });
    expect(long.status).toBe(200);
    expect(long.body.expires_in).toBe(900);
    const claims = decodeJwt(long.body.access_token);
    expect(claims.exp! - claims.iat!).toBe(900);
  });

  it("ends a token no later than its key", async () => {
    const { key } = await newKey(["logs:read"], {
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    });
    const reply = await exchange(key, { expires_in: 900 });
    expect(reply.status).toBe(200);
    expect(reply.body.expires_in).toBeLessThanOrEqual(60);
  });

  it("refuses scopes the key lacks, and unknown ones, as scope_not_grantable naming them", async () => {
    const { key } = await newKey(["services:read"]);
    const wider = await exchange(key, { scopes: ["services:read", "services:write"] });
    expectError(wider, 403, "scope_not_grantable");
    expect(wider.body.error.details).toEqual([
      { field: "scopes.1", message: "not the key's: services:write" },
    ]);
    expectError(await exchange(key, { scopes: ["services:*"] }), 403, "scope_not_grantable");
    expectError(await exchange(key, { scopes: ["nope:read"] }), 403, "scope_not_grantable");
    expectError(await exchange(key, { scopes: [] }), 400, "invalid_request");
    expectError(await exchange(key, { expires_in: 0 }), 400, "invalid_request");
    expectError(await exchange(key, { ttl: 5 }), 400, "invalid_request");
  });

  it("refuses a session, a revoked key, a disabled key and an exchanged token", async () => {
    expectError(await exchange(owner.accessToken), 403, "forbidden");
    const { id, key } = await newKey(["logs:read"]);
    const token = (await exchange(key)).body.access_token as string;
    expectError(await exchange(token), 403, "forbidden");
    const patch = (enabled: boolean) =>
      api().patch(`/v1/api-keys/${id}`, { enabled }, { token: owner.accessToken });
    expect((await patch(false)).status).toBe(200);
    expectError(await exchange(key), 401, "key_disabled");
    expect((await patch(true)).status).toBe(200);
    expect((await exchange(key)).status).toBe(200);
    expect((await api().delete(`/v1/api-keys/${id}`, { token: owner.accessToken })).status).toBe(
      200,
    );
    expectError(await exchange(key), 401, "key_revoked");
  });

  it("acts as its key on Latchkey's own API, narrowed, and is refused once the key is revoked", async () => {
    const { id, key } = await newKey(["keys:read", "keys:write", "logs:read"]);
    const token = (await exchange(key, { scopes: ["keys:read"] })).body.access_token as string;
    const who = await api().get("/v1/auth/whoami", { token });
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({
      credential_type: "api_key",
      key_id: id,
      user_id: owner.userId,
      session_id: null,
      scopes: ["keys:read"],
    });
    expect((await api().get("/v1/api-keys", { token })).status).toBe(200);
    // Narrowed: the key could edit keys, the token cannot.
    const edit = await api().patch(`/v1/api-keys/${id}`, { name: "x" }, { token });
    expectError(edit, 403, "scope_insufficient");

    expect((await api().delete(`/v1/api-keys/${id}`, { token: owner.accessToken })).status).toBe(
      200,
    );
    expectError(await api().get("/v1/auth/whoami", { token }), 401, "key_revoked");
  });

  it("is refused where a signed-in session is required, and cannot mint keys", async () => {
    const { id, key } = await newKey(["keys:read", "keys:write"], { environment: "test" });
    const token = (await exchange(key)).body.access_token as string;
    expect(decodeProtectedHeader(token).typ).toBe("at+jwt");
    for (const [method, path] of [
      ["GET", "/v1/auth/sessions"],
      ["GET", "/v1/auth/2fa/status"],
      ["POST", "/v1/auth/2fa/setup"],
      ["POST", "/v1/auth/logout"],
    ] as const) {
      const reply =
        method === "GET" ? await api().get(path, { token }) : await api().post(path, {}, { token });
      expectError(reply, 403, "forbidden", `${method} ${path}`);
    }
    // The key itself may mint a test key; the token exchanged for it may not.
    const body = { name: "child", scopes: ["keys:read"], environment: "test" };
    expect((await api().post("/v1/api-keys", body, { token: key })).status).toBe(201);
    expectError(await api().post("/v1/api-keys", body, { token }), 403, "forbidden");
    expectError(await api().post(`/v1/api-keys/${id}/rotate`, {}, { token }), 403, "forbidden");
  });

  it("is never taken from the portal's session cookie", async () => {
    const { key } = await newKey(["keys:read"]);
    const token = (await exchange(key)).body.access_token as string;
    for (const name of ["lk_session", "__Host-lk_session"]) {
      const reply = await api().get("/v1/api-keys", { headers: { cookie: `${name}=${token}` } });
      expect(reply.status, name).toBe(401);
    }
  });

  it("counts each exchange as a use of the key: its rate limit, usage and activity", async () => {
    const { id, key } = await newKey(["logs:read"], { environment: "test" });
    for (let i = 0; i < 3; i += 1) expect((await exchange(key)).status).toBe(200);
    const limited = await exchange(key);
    expectError(limited, 429, "rate_limited");
    expect(limited.headers.get("retry-after")).toBeTruthy();
    await server.services.keyVerifier.usage.flush();
    const details = await api().get(`/v1/api-keys/${id}`, { token: owner.accessToken });
    expect(details.body.usage_count).toBe(4);
    expect(details.body.usage.by_endpoint).toEqual([
      { endpoint: "POST /v1/keys/exchange", count: 4 },
    ]);
    const activity = await api().get(`/v1/api-keys/${id}/activity`, { token: owner.accessToken });
    expect(activity.body.activity.map((a: { outcome: string }) => a.outcome)).toEqual([
      "rate_limited",
      "ok",
      "ok",
      "ok",
    ]);
  });

  routeSecurity("exchange", () => server);
});
