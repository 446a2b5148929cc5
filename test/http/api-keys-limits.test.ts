import { afterAll, beforeAll, expect, it } from "vitest";
import { client, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import {
  account,
  adminPatch,
  createKey,
  manualClock,
  serviceKey,
  verify,
  type Account,
  type Api,
} from "./api-keys-fixtures.js";

describeEachStore("API keys: plan limits", (store) => {
  let server: TestServer;
  let api: Api;
  let staff: Account;
  const clock = manualClock();

  beforeAll(async () => {
    server = await startTestServer({ store, now: clock.now });
    api = client(server.url);
    staff = await account(server);
  });
  afterAll(async () => server?.close());

  async function activeKeys(userId: string): Promise<number> {
    const now = clock.now();
    const rows = await server.services.ctx.db
      .selectFrom("api_keys")
      .select(["id", "revoked_at", "expires_at"])
      .where("owner_id", "=", userId)
      .execute();
    return rows.filter(
      (r) => r.revoked_at === null && (r.expires_at === null || r.expires_at > now),
    ).length;
  }

  it("allows 2 active keys on free; revoked and expired keys do not count", async () => {
    const user = await account(server);
    const a = await createKey(api, user.token, { expires_in: "10m" });
    const b = await createKey(api, user.token);
    const third = await api.post(
      "/v1/api-keys",
      { name: "3", scopes: ["services:read"] },
      { token: user.token },
    );
    expect(third.status).toBe(403);
    expect(third.body.error.code).toBe("plan_limit_reached");
    await api.delete(`/v1/api-keys/${b.id}`, { token: user.token });
    await createKey(api, user.token);
    clock.advance(600_001); // a has expired (sessions last an hour)
    expect((await verify(api, staff.token, { key: a.key })).code).toBe("key_expired");
    await createKey(api, user.token);
    expect(await activeKeys(user.userId)).toBe(2);
  });

  it("follows the plan staff set: pro 10, enterprise unlimited", async () => {
    const user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "pro" });
    for (let i = 0; i < 10; i++) await createKey(api, user.token, { name: `k${i}` });
    const over = await api.post(
      "/v1/api-keys",
      { name: "11", scopes: ["services:read"] },
      { token: user.token },
    );
    expect(over.body.error.code).toBe("plan_limit_reached");
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
    for (let i = 0; i < 5; i++) await createKey(api, user.token, { name: `e${i}` });
    expect(await activeKeys(user.userId)).toBe(15);
  });

  it("holds the limit when 30 creates race: exactly the allowed number succeed", async () => {
    for (const [plan, limit] of [
      ["free", 2],
      ["pro", 10],
    ] as const) {
      const user = await account(server);
      await adminPatch(api, staff.token, user.userId, { plan });
      const replies = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          api.post(
            "/v1/api-keys",
            { name: `race-${i}`, scopes: ["services:read"] },
            { token: user.token },
          ),
        ),
      );
      const created = replies.filter((r) => r.status === 201);
      const refused = replies.filter((r) => r.status === 403);
      expect(created, plan).toHaveLength(limit);
      expect(refused).toHaveLength(30 - limit);
      for (const r of refused) expect(r.body.error.code).toBe("plan_limit_reached");
      expect(await activeKeys(user.userId)).toBe(limit);
    }
  });

  it("allows rotation at the limit: the old key's overlap does not count", async () => {
    const user = await account(server);
    const a = await createKey(api, user.token, { name: "a" });
    await createKey(api, user.token, { name: "b" });
    const rotated = await api.post(`/v1/api-keys/${a.id}/rotate`, {}, { token: user.token });
    expect(rotated.status).toBe(201);
    expect((await verify(api, staff.token, { key: a.key })).valid).toBe(true);
    const more = await api.post(
      "/v1/api-keys",
      { name: "c", scopes: ["services:read"] },
      { token: user.token },
    );
    expect(more.body.error.code).toBe("plan_limit_reached");
    // Only one free overlap per key: rotating the new key while the old still works
    // would make a third live key.
    const chain = await api.post(
      `/v1/api-keys/${rotated.body.id}/rotate`,
      {},
      { token: user.token },
    );
    expect(chain.status).toBe(403);
    expect(chain.body.error.code).toBe("plan_limit_reached");
    const twice = await api.post(`/v1/api-keys/${a.id}/rotate`, {}, { token: user.token });
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe("conflict");
    // Once the old key is revoked, the new one rotates freely.
    await api.delete(`/v1/api-keys/${a.id}`, { token: user.token });
    const next = await api.post(
      `/v1/api-keys/${rotated.body.id}/rotate`,
      {},
      {
        token: user.token,
      },
    );
    expect(next.status).toBe(201);
  });
});

describeEachStore("API keys: rate limits", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;
  let staff: Account;
  const clock = manualClock();

  beforeAll(async () => {
    server = await startTestServer({
      store,
      now: clock.now,
      env: { LATCHKEY_RATE_LIMIT_LIVE: "3", LATCHKEY_RATE_LIMIT_TEST: "5" },
    });
    api = client(server.url);
    staff = await account(server);
    user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
  });
  afterAll(async () => server?.close());

  it("answers 429 rate_limited with Retry-After past the per-minute limit", async () => {
    const key = await createKey(api, user.token);
    for (let i = 0; i < 3; i++) {
      const ok = await api.get("/v1/auth/whoami", { token: key.key });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("x-ratelimit-remaining")).toBe(String(2 - i));
    }
    const limited = await api.get("/v1/auth/whoami", { token: key.key });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limited");
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.body.error.retry_after).toBe(retryAfter);
    clock.advance(60_001);
    expect((await api.get("/v1/auth/whoami", { token: key.key })).status).toBe(200);
  });

  it("gives test keys their own, relaxed limit", async () => {
    const key = await createKey(api, user.token, { environment: "test" });
    expect(key.key.startsWith("lk_test_")).toBe(true);
    for (let i = 0; i < 5; i++)
      expect((await api.get("/v1/auth/whoami", { token: key.key })).status).toBe(200);
    expectError(await api.get("/v1/auth/whoami", { token: key.key }), 429, "rate_limited");
  });

  it("reports the verified key's budget in verify, and spends none of the caller's", async () => {
    const service = await serviceKey(server, api, staff.token);
    const key = await createKey(api, user.token);
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await verify(api, service, { key: key.key }));
    expect(seen.map((r) => r.code)).toEqual(["valid", "valid", "valid", "rate_limited"]);
    expect(seen.map((r) => r.ratelimit.remaining)).toEqual([2, 1, 0, 0]);
    expect(seen[0].ratelimit.limit).toBe(3);
    expect(seen[0].ratelimit.reset).toBeGreaterThan(clock.now());
    expect(seen[3].valid).toBe(false);
    // The service made 4 calls on a limit of 3 and is still served.
    expect((await api.get("/v1/auth/whoami", { token: service })).status).toBe(200);
  });
});
