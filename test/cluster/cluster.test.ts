import { randomBytes } from "node:crypto";
import { createVerifier, Latchkey, type Verifier } from "latchkey";
import { afterAll, beforeAll, expect, it } from "vitest";
import { newSigningJwk } from "../../src/infra/secrets.js";
import { client, PASSWORD, signupAndLogin, uniqueEmail } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { describeCluster, freshPostgres } from "../helpers/stores.js";
import { ownerWithKeys, UNLIMITED, within } from "../sdk/support.js";

/**
 * Two real Latchkey instances on two ports, as behind a load balancer: one PostgreSQL
 * database, one Redis prefix, and the same secrets from the environment.
 */
describeCluster("two Latchkey instances on one PostgreSQL and Redis", () => {
  let a: TestServer;
  let b: TestServer;
  let dropDb: () => Promise<void>;
  const verifiers: Verifier[] = [];

  beforeAll(async () => {
    const db = await freshPostgres();
    dropDb = db.drop;
    const redis = freshRedisPrefix();
    const env = {
      ...UNLIMITED,
      LATCHKEY_SIGNING_KEY: JSON.stringify(await newSigningJwk()),
      LATCHKEY_MASTER_KEY: randomBytes(32).toString("hex"),
      LATCHKEY_LOGIN_MAX_FAILURES: "4",
      LATCHKEY_RATE_LIMIT_TEST: "6",
      LATCHKEY_USAGE_FLUSH_MS: "50",
    };
    a = await startTestServer({ databaseUrl: db.url, redis, env });
    b = await startTestServer({ databaseUrl: db.url, redis, env });
  });
  afterAll(async () => {
    await Promise.all(verifiers.map((v) => v.close()));
    await b?.close();
    await a?.close();
    await dropDb?.();
  });

  it("accepts on B an access token issued by A, online and offline", async () => {
    // First: its helper signs up the platform's staff (the first account).
    const owner = await ownerWithKeys(a.url);
    const user = await signupAndLogin(a.url);
    const onB = await client(b.url).get("/v1/auth/whoami", { token: user.accessToken });
    expect(onB.status).toBe(200);
    expect(onB.body.user_id).toBe(user.userId);
    const jwksA = await client(a.url).get("/.well-known/jwks.json");
    const jwksB = await client(b.url).get("/.well-known/jwks.json");
    expect(jwksB.body).toEqual(jwksA.body);

    const verifier = createVerifier({ baseUrl: b.url, apiKey: owner.serviceKey });
    verifiers.push(verifier);
    expect(await verifier.verify(user.accessToken, { scopes: ["services:read"] })).toMatchObject({
      valid: true,
      principal: { type: "session", userId: user.userId },
    });
  });

  it("refuses on B a key revoked through A from the moment DELETE answers", async () => {
    const owner = await ownerWithKeys(a.url);
    const verifier = createVerifier({
      baseUrl: b.url,
      apiKey: owner.serviceKey,
      cacheTtlMs: 10 * 60_000,
    });
    verifiers.push(verifier);
    await within(5000, async () => verifier.streaming);
    for (let round = 0; round < 5; round++) {
      const { id, key } = await owner.key(["services:read"]);
      // Warm every cache on the way: B's own key cache and the verifier's answer cache.
      expect((await client(b.url).get("/v1/auth/whoami", { token: key })).status).toBe(200);
      expect((await verifier.verify(key, { scopes: ["services:read"] })).valid).toBe(true);

      const del = await client(a.url).delete(`/v1/api-keys/${id}`, { token: owner.accessToken });
      expect(del.status).toBe(200);
      const onB = await client(b.url).get("/v1/auth/whoami", { token: key });
      expect(onB.status).toBe(401);
      expect(onB.body.error.code).toBe("key_revoked");
      // The verifier follows B's stream; B hears of A's revocation through Redis.
      const took = await within(1000, async () => !(await verifier.verify(key)).valid);
      expect(took).toBeLessThan(1000);
    }
  });

  it("shares failed-login throttles between the instances", async () => {
    const email = uniqueEmail("throttle");
    expect(
      (await client(a.url).post("/v1/auth/signup", { email, password: PASSWORD })).status,
    ).toBe(201);
    for (let i = 0; i < 4; i++) {
      const target = i % 2 === 0 ? a.url : b.url;
      const reply = await client(target).post("/v1/auth/login", {
        email,
        password: "wrong-wrong-1",
      });
      expect(reply.body.error.code).toBe("invalid_credentials");
    }
    for (const target of [a.url, b.url]) {
      const reply = await client(target).post("/v1/auth/login", { email, password: PASSWORD });
      expect(reply.status).toBe(429);
      expect(reply.body.error.code).toBe("too_many_attempts");
      expect(Number(reply.headers.get("retry-after"))).toBeGreaterThan(0);
    }
  });

  it("shares one rate-limit budget per key between the instances", async () => {
    const owner = await ownerWithKeys(a.url);
    const { key } = await owner.key(["services:read"], { environment: "test" });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      for (const target of [a.url, b.url])
        statuses.push((await client(target).get("/v1/auth/whoami", { token: key })).status);
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(statuses.slice(6)).toEqual([429, 429]);
    const sdk = new Latchkey({ apiKey: key, baseUrl: b.url });
    await expect(sdk.auth.whoami()).rejects.toMatchObject({ code: "rate_limited", status: 429 });
  });

  it("adds up usage counted on both instances", async () => {
    const owner = await ownerWithKeys(a.url);
    const { id, key } = await owner.key(["services:read"]);
    for (let i = 0; i < 3; i++)
      expect((await client(a.url).get("/v1/auth/whoami", { token: key })).status).toBe(200);
    for (let i = 0; i < 4; i++)
      expect((await client(b.url).get("/v1/auth/whoami", { token: key })).status).toBe(200);
    const sdk = new Latchkey({ accessToken: owner.accessToken, baseUrl: a.url });
    // Each instance flushes its buffer every 50 ms here.
    await within(5000, async () => (await sdk.keys.get(id)).usage_count >= 7);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const details = await new Latchkey({ accessToken: owner.accessToken, baseUrl: b.url }).keys.get(
      id,
    );
    expect(details.usage_count).toBe(7);
    const byEndpoint = details.usage.by_endpoint.reduce((sum, row) => sum + row.count, 0);
    expect(byEndpoint).toBe(7);
  });
});
