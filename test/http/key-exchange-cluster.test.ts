import { afterAll, beforeAll, expect, it } from "vitest";
import { newSigningJwk } from "../../src/infra/secrets.js";
import { client, expectError, PASSWORD } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { describeCluster } from "../helpers/stores.js";
import { account, createKey, type Api } from "./api-keys-fixtures.js";

// Exchanged tokens on two instances behind one load balancer: one PostgreSQL, one Redis.
describeCluster("exchanged tokens across two instances (PostgreSQL + Redis)", () => {
  let a: TestServer;
  let b: TestServer;
  let apiA: Api;
  let apiB: Api;
  let tokenA: string;

  beforeAll(async () => {
    const redis = freshRedisPrefix();
    // One signing key, as instances behind one load balancer share it (LATCHKEY_SIGNING_KEY).
    const env = { LATCHKEY_SIGNING_KEY: JSON.stringify(await newSigningJwk()) };
    a = await startTestServer({ store: "postgres", redis, env });
    b = await startTestServer({ redis, env, databaseUrl: a.config.database });
    apiA = client(a.url);
    apiB = client(b.url);
    const user = await account(a);
    await apiA.patch(
      `/v1/admin/users/${user.userId}`,
      { plan: "enterprise" },
      { token: user.token },
    );
    tokenA = user.token;
    expect(
      (await apiB.post("/v1/auth/login", { email: user.email, password: PASSWORD })).status,
    ).toBe(200);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const exchanged = async (key: string) => {
    const reply = await apiA.post("/v1/keys/exchange", {}, { token: key });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    return reply.body.access_token as string;
  };

  it("refuses a token on the other instance from the moment DELETE answers", async () => {
    for (let round = 0; round < 3; round++) {
      const key = await createKey(apiA, tokenA, { name: `x${round}`, scopes: ["keys:read"] });
      const token = await exchanged(key.key);
      expect((await apiB.get("/v1/auth/whoami", { token })).status).toBe(200); // B remembers it
      expect((await apiA.delete(`/v1/api-keys/${key.id}`, { token: tokenA })).status).toBe(200);
      expectError(await apiB.get("/v1/auth/whoami", { token }), 401, "key_revoked");
    }
  });

  it("refuses a token of a revoked key on an instance that never heard the bus message", async () => {
    const key = await createKey(apiA, tokenA, { name: "deaf", scopes: ["keys:read"] });
    const token = await exchanged(key.key);
    // Twice: the second use compares the key's shared change version, as it does from then on.
    expect((await apiB.get("/v1/auth/whoami", { token })).status).toBe(200);
    expect((await apiB.get("/v1/auth/whoami", { token })).status).toBe(200);
    await (b.services.deps.bus as any).subscriber.unsubscribe();
    expect((await apiA.delete(`/v1/api-keys/${key.id}`, { token: tokenA })).status).toBe(200);
    expectError(await apiB.get("/v1/auth/whoami", { token }), 401, "key_revoked");
  });
});
