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
  let userId: string;
  let staffToken: string;
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
    userId = user.userId;
    staffToken = staff.token;
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

  it("shares an owner's limit between its keys on both instances, set at runtime by staff", async () => {
    const one = await createKey(apiA, token, { name: "one" });
    const two = await createKey(apiA, token, { name: "two" });
    // Cached on both instances before the limit exists.
    for (const api of [apiA, apiB])
      for (const key of [one, two])
        expect((await verify(api, service, { key: key.key })).valid).toBe(true);
    const set = await apiA.patch(
      `/v1/admin/owners/${userId}/ratelimits`,
      { ratelimits: [{ name: "api", limit: 40, window: "1h" }] },
      { token: staffToken },
    );
    expect(set.status).toBe(200);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        verify(i % 2 ? apiA : apiB, service, { key: (i % 3 ? one : two).key }),
      ),
    );
    expect(results.filter((r) => r.valid)).toHaveLength(40);
    expect(results.filter((r) => r.code === "rate_limited")).toHaveLength(20);
  });
});
