import { afterAll, beforeAll, expect, it } from "vitest";
import { client } from "../helpers/http.js";
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

describeEachStore("API keys: named rate limits, per key and per owner", (store) => {
  let server: TestServer;
  let api: Api;
  let staff: Account;
  let service: string;
  // One second into a minute: the windows below do not roll over unless a test moves the clock.
  const clock = manualClock(Math.floor(Date.now() / 60_000) * 60_000 + 1000);

  beforeAll(async () => {
    server = await startTestServer({ store, now: clock.now });
    api = client(server.url);
    staff = await account(server);
    service = await serviceKey(server, api, staff.token);
  });
  afterAll(async () => server?.close());

  async function customer(): Promise<Account> {
    const user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
    return user;
  }

  const setOwnerLimits = (ownerId: string, ratelimits: unknown[]) =>
    api.patch(`/v1/admin/owners/${ownerId}/ratelimits`, { ratelimits }, { token: staff.token });

  it("lets two keys of one owner with an owner limit of 100/min admit exactly 100 between them", async () => {
    const user = await customer();
    const one = await createKey(api, user.token, { name: "one" });
    const two = await createKey(api, user.token, { name: "two" });
    // Both keys cached before the limit is set: setting it reaches them at once.
    expect((await verify(api, service, { key: one.key })).ratelimits).toEqual([]);
    expect((await verify(api, service, { key: two.key })).ratelimits).toEqual([]);
    const set = await setOwnerLimits(user.userId, [{ name: "api", limit: 100, window: "1m" }]);
    expect(set.status).toBe(200);
    expect(set.body).toEqual({
      owner_id: user.userId,
      ratelimits: [{ name: "api", limit: 100, window: "1m", window_ms: 60_000, cost: 1 }],
    });
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) => verify(api, service, { key: (i % 2 ? one : two).key })),
    );
    const admitted = results.filter((r) => r.valid);
    expect(admitted).toHaveLength(100);
    expect(results.filter((r) => r.code === "rate_limited")).toHaveLength(50);
    expect(new Set(admitted.map((r) => r.key_id))).toEqual(new Set([one.id, two.id]));
    expect(admitted[0].ratelimits).toEqual([
      {
        name: "api",
        scope: "owner",
        limit: 100,
        remaining: expect.any(Number),
        reset: Math.floor(clock.now() / 60_000) * 60_000 + 60_000,
      },
    ]);
    expect(admitted.map((r) => r.ratelimits[0].remaining).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
    // Another owner's keys have their own budget.
    const other = await customer();
    const theirs = await createKey(api, other.token);
    expect((await verify(api, service, { key: theirs.key })).valid).toBe(true);

    const audit = await api.get("/v1/audit-log?event=owner_limits_set&limit=500", {
      token: user.token,
    });
    expect(audit.body.events).toHaveLength(1);
    expect(audit.body.events[0].details).toMatchObject({ owner_id: user.userId, by: staff.userId });
    const shown = await api.get(`/v1/admin/owners/${user.userId}/ratelimits`, {
      token: staff.token,
    });
    expect(shown.body.ratelimits).toHaveLength(1);
  });

  it("spends a key's own named limits with the costs a verification names, and reports each", async () => {
    const user = await customer();
    const key = await createKey(api, user.token, {
      ratelimits: [
        { name: "api", limit: 3, window: "1m" },
        { name: "search", limit: 4, window: "10s", cost: 2 },
      ],
    });
    expect(key.ratelimits).toEqual([
      { name: "api", limit: 3, window: "1m", window_ms: 60_000, cost: 1 },
      { name: "search", limit: 4, window: "10s", window_ms: 10_000, cost: 2 },
    ]);
    const first = await verify(api, service, { key: key.key });
    expect(first).toMatchObject({ valid: true, remaining: null });
    expect(first.ratelimits).toMatchObject([
      { name: "api", scope: "key", limit: 3, remaining: 2 },
      { name: "search", scope: "key", limit: 4, remaining: 2 },
    ]);
    const cheap = await verify(api, service, {
      key: key.key,
      ratelimits: [{ name: "search", cost: 1 }],
    });
    expect(cheap.ratelimits).toMatchObject([{ remaining: 1 }, { remaining: 1 }]);
    // search would go over: refused, and api is not spent either.
    const over = await verify(api, service, { key: key.key });
    expect(over).toMatchObject({ valid: false, code: "rate_limited" });
    expect(over.ratelimits).toMatchObject([{ remaining: 1 }, { remaining: 1 }]);
    // Sliding window: 15 s on, the previous 10 s window still counts in part (3 × 0.4)…
    clock.advance(15_000);
    const partly = await verify(api, service, {
      key: key.key,
      ratelimits: [{ name: "api", cost: 0 }],
    });
    expect(partly.ratelimits).toMatchObject([{ remaining: 1 }, { remaining: 0 }]);
    // …and once a whole window has passed since, not at all.
    clock.advance(14_000);
    const later = await verify(api, service, {
      key: key.key,
      ratelimits: [{ name: "search", cost: 0 }],
    });
    expect(later).toMatchObject({ valid: true });
    expect(later.ratelimits).toMatchObject([{ remaining: 0 }, { remaining: 4 }]);
    // The key's own limit shadows an owner limit of the same name; other owner limits add.
    await setOwnerLimits(user.userId, [
      { name: "api", limit: 1000, window: "1m" },
      { name: "daily", limit: 5000, window: "1d" },
    ]);
    const both = await verify(api, service, {
      key: key.key,
      ratelimits: [{ name: "api", cost: 0 }],
    });
    expect(both.ratelimits.map((r: any) => `${r.name}:${r.scope}`)).toEqual([
      "api:key",
      "search:key",
      "daily:owner",
    ]);
    // PATCH replaces or removes the key's limits at once.
    const cleared = await api.patch(
      `/v1/api-keys/${key.id}`,
      { ratelimits: null },
      { token: user.token },
    );
    expect(cleared.body.ratelimits).toEqual([]);
    const after = await verify(api, service, { key: key.key });
    expect(after.ratelimits.map((r: any) => `${r.name}:${r.scope}`)).toEqual([
      "api:owner",
      "daily:owner",
    ]);
    await setOwnerLimits(user.userId, []);
    expect((await verify(api, service, { key: key.key })).ratelimits).toEqual([]);
  });

  it("refuses malformed limits, and owners that do not exist", async () => {
    const user = await customer();
    for (const ratelimits of [
      [{ name: "api", limit: 10, window: "5x" }],
      [{ name: "api", limit: 10, window: "500ms" }],
      [{ name: "api", limit: 0, window: "1m" }],
      [{ name: "bad name", limit: 1, window: "1m" }],
      [
        { name: "api", limit: 1, window: "1m" },
        { name: "api", limit: 2, window: "1h" },
      ],
    ]) {
      const created = await api.post(
        "/v1/api-keys",
        { name: "k", scopes: ["services:read"], ratelimits },
        { token: user.token },
      );
      expect(created.status, JSON.stringify(ratelimits)).toBe(400);
      expect(created.body.error.code).toBe("invalid_request");
      const owner = await setOwnerLimits(user.userId, ratelimits);
      expect(owner.status).toBe(400);
    }
    expect((await setOwnerLimits("usr_missing", [])).status).toBe(404);
    const key = await createKey(api, user.token);
    const bad = await api.post(
      "/v1/keys/verify",
      { key: key.key, ratelimits: [{ name: "api", cost: -1 }] },
      { token: service },
    );
    expect(bad.status).toBe(400);
  });
});
