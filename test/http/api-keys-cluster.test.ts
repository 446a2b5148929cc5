import { afterAll, beforeAll, expect, it } from "vitest";
import { client, PASSWORD } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { describeCluster } from "../helpers/stores.js";
import { account, createKey, verify, type Api } from "./api-keys-fixtures.js";

// Two instances behind one load balancer: one PostgreSQL database, one Redis prefix.
describeCluster("API keys across two instances (PostgreSQL + Redis)", () => {
  let a: TestServer;
  let b: TestServer;
  let apiA: Api;
  let apiB: Api;
  let tokenA: string;
  let tokenB: string;

  beforeAll(async () => {
    const redis = freshRedisPrefix();
    const env = { LATCHKEY_RATE_LIMIT_LIVE: "6" };
    a = await startTestServer({ store: "postgres", redis, env });
    b = await startTestServer({ redis, env, databaseUrl: a.config.database });
    apiA = client(a.url);
    apiB = client(b.url);
    const user = await account(a);
    await apiA.patch(
      `/v1/admin/users/${user.userId}`,
      { plan: "enterprise" },
      {
        token: user.token,
      },
    );
    tokenA = user.token;
    const login = await apiB.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    tokenB = login.body.access_token;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it("shares one rate-limit budget between the instances", async () => {
    const key = await createKey(apiA, tokenA);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await apiA.get("/v1/auth/whoami", { token: key.key })).status);
      statuses.push((await apiB.get("/v1/auth/whoami", { token: key.key })).status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(6);
    expect(statuses.slice(6)).toEqual([429, 429]);
    const check = await verify(apiB, tokenB, { key: key.key });
    expect(check).toMatchObject({ code: "rate_limited", ratelimit: { limit: 6, remaining: 0 } });
  });

  it("disables and enables on every instance from the moment PATCH answers", async () => {
    const key = await createKey(apiA, tokenA, { name: "pausable" });
    expect((await verify(apiA, tokenA, { key: key.key })).valid).toBe(true);
    expect((await verify(apiB, tokenB, { key: key.key })).valid).toBe(true); // both cached
    const off = await apiA.patch(`/v1/api-keys/${key.id}`, { enabled: false }, { token: tokenA });
    expect(off.status).toBe(200);
    expect((await verify(apiB, tokenB, { key: key.key })).code).toBe("key_disabled");
    expect((await apiB.get("/v1/auth/whoami", { token: key.key })).body.error.code).toBe(
      "key_disabled",
    );
    const on = await apiB.patch(`/v1/api-keys/${key.id}`, { enabled: true }, { token: tokenB });
    expect(on.status).toBe(200);
    expect((await verify(apiA, tokenA, { key: key.key })).valid).toBe(true);
  });

  it("revokes on every instance from the moment DELETE answers", async () => {
    for (let round = 0; round < 5; round++) {
      const key = await createKey(apiA, tokenA, { name: `r${round}` });
      // Both instances have the key cached.
      expect((await verify(apiA, tokenA, { key: key.key })).valid).toBe(true);
      expect((await verify(apiB, tokenB, { key: key.key })).valid).toBe(true);
      const del = await apiA.delete(`/v1/api-keys/${key.id}`, { token: tokenA });
      expect(del.status).toBe(200);
      const onB = await apiB.get("/v1/auth/whoami", { token: key.key });
      expect(onB.status).toBe(401);
      expect(onB.body.error.code).toBe("key_revoked");
      expect((await verify(apiB, tokenB, { key: key.key })).code).toBe("key_revoked");
    }
  });

  it("narrows on every instance at once, and knows keys created on the other", async () => {
    const key = await createKey(apiB, tokenB, { scopes: ["services:read", "logs:read"] });
    expect((await verify(apiA, tokenA, { key: key.key, scopes: ["logs:read"] })).valid).toBe(true);
    await apiB.patch(`/v1/api-keys/${key.id}`, { scopes: ["services:read"] }, { token: tokenB });
    const onA = await verify(apiA, tokenA, { key: key.key, scopes: ["logs:read"] });
    expect(onA).toMatchObject({ valid: false, code: "scope_insufficient" });
    expect(onA.scopes).toEqual(["services:read"]);
  });

  it("refuses a revoked key on an instance that never heard the bus message", async () => {
    const key = await createKey(apiA, tokenA, { name: "deaf" });
    expect((await verify(apiB, tokenB, { key: key.key })).valid).toBe(true);
    // B stops hearing pub/sub (a dropped subscription); only the per-key change
    // counter, read in the same Redis round trip as the rate limit, can tell it.
    await (b.services.deps.bus as any).subscriber.unsubscribe();
    await apiA.delete(`/v1/api-keys/${key.id}`, { token: tokenA });
    const onB = await apiB.get("/v1/auth/whoami", { token: key.key });
    expect(onB.status).toBe(401);
    expect(onB.body.error.code).toBe("key_revoked");
  });
});
