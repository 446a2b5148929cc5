import { afterAll, beforeAll, expect, it } from "vitest";
import { client } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { describeCluster } from "../helpers/stores.js";
import {
  account,
  adminPatch,
  createKey,
  serviceKey,
  verify,
  type Api,
} from "./api-keys-fixtures.js";

// Two instances behind one load balancer: one PostgreSQL database, one Redis prefix.
describeCluster("usage credits and named limits across two instances (PostgreSQL + Redis)", () => {
  let a: TestServer;
  let b: TestServer;
  let apiA: Api;
  let apiB: Api;
  let token: string;
  let service: string;

  beforeAll(async () => {
    const redis = freshRedisPrefix();
    const env = { LATCHKEY_USAGE_FLUSH_MS: "50" };
    a = await startTestServer({ store: "postgres", redis, env });
    b = await startTestServer({ redis, env, databaseUrl: a.config.database });
    apiA = client(a.url);
    apiB = client(b.url);
    const staff = await account(a);
    const user = await account(a);
    await adminPatch(apiA, staff.token, user.userId, { plan: "enterprise" });
    token = user.token;
    service = await serviceKey(a, apiA, staff.token);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it("admits exactly 10 of 50 verifications racing on both instances against remaining: 10", async () => {
    const key = await createKey(apiA, token, { remaining: 10 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => verify(i % 2 ? apiA : apiB, service, { key: key.key })),
    );
    expect(results.filter((r) => r.valid)).toHaveLength(10);
    expect(results.filter((r) => r.code === "usage_exceeded")).toHaveLength(40);
    const shown = await apiA.get(`/v1/api-keys/${key.id}`, { token });
    expect(shown.body.remaining).toBe(0);
  });

  it("sets the balance on every instance from the moment PATCH answers", async () => {
    const key = await createKey(apiA, token, { remaining: 1 });
    expect((await verify(apiA, service, { key: key.key })).valid).toBe(true);
    expect((await verify(apiB, service, { key: key.key })).code).toBe("usage_exceeded");
    const set = await apiA.patch(`/v1/api-keys/${key.id}`, { remaining: 2 }, { token });
    expect(set.status).toBe(200);
    expect(await verify(apiB, service, { key: key.key })).toMatchObject({
      valid: true,
      remaining: 1,
    });
    expect(await verify(apiA, service, { key: key.key })).toMatchObject({
      valid: true,
      remaining: 0,
    });
    expect((await verify(apiB, service, { key: key.key })).code).toBe("usage_exceeded");
  });
});
