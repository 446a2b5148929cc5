import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessionCaller, signUp, testServices, type TestDeps } from "../../../test/store/deps.js";
import type { KeyRow } from "../../store/port.js";
import { ACTIVITY_KEEP, UsageBuffer } from "./usage.js";

describe("UsageBuffer", () => {
  let t: TestDeps;
  let key: KeyRow;
  let usage: UsageBuffer;
  beforeEach(async () => {
    t = await testServices();
    const owner = await signUp(t, "ada@example.test");
    ({ row: key } = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "k",
      scopes: ["keys:read"],
    }));
    usage = new UsageBuffer(t.deps);
  });
  afterEach(async () => {
    await usage.close();
    await t.close();
  });

  const use = (at: number, endpoint = "GET /a", projectId: string | null = null) =>
    usage.record({ keyId: key.id, at, endpoint, projectId, ip: null, outcome: "ok" });

  it("writes nothing until a flush, then counts, buckets and activity in one go", async () => {
    const t0 = t.clock.now;
    use(t0);
    use(t0 + 5);
    use(t0 + 1, "GET /b", "prj_1");
    expect((await t.deps.store.keys.byHash(key.key_hash))?.usage_count).toBe(0);
    await usage.flush();
    expect(await t.deps.store.keys.byHash(key.key_hash)).toMatchObject({
      usage_count: 3,
      last_used_at: t0 + 5,
    });
    const summary = await t.services.keyViews.usage(key.id);
    expect(summary.byEndpoint).toEqual([
      { endpoint: "GET /a", count: 2 },
      { endpoint: "GET /b", count: 1 },
    ]);
    expect(summary.byProject).toEqual([
      { project_id: "", count: 2 },
      { project_id: "prj_1", count: 1 },
    ]);
    expect(await t.deps.store.usage.countActivity(key.id)).toBe(3);
    await usage.flush(); // nothing new: nothing changes
    expect((await t.deps.store.keys.byHash(key.key_hash))?.usage_count).toBe(3);
  });

  it("keeps only the newest activity rows per key", async () => {
    for (let i = 0; i < ACTIVITY_KEEP + 20; i++) {
      use(t.clock.now + i);
      if (i % 100 === 99) await usage.flush(); // under the per-flush sample
    }
    await usage.flush();
    use(t.clock.now + 5_000);
    await usage.flush();
    expect(await t.deps.store.usage.countActivity(key.id)).toBe(ACTIVITY_KEEP);
    const [newest] = await t.services.keyViews.activity(key.id, { limit: 1 });
    expect(newest?.at).toBe(t.clock.now + 5_000);
    expect((await t.deps.store.keys.byHash(key.key_hash))?.usage_count).toBe(ACTIVITY_KEEP + 21);
  });

  it("remembers stored activity of a bounded number of keys, and still prunes a forgotten one", async () => {
    await usage.close();
    usage = new UsageBuffer(t.deps, { storedActivityLimit: 1 });
    const owner = await signUp(t, "bob@example.test");
    const { row: other } = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "other",
      scopes: ["keys:read"],
    });
    const known = () =>
      (usage as unknown as { storedActivity: Map<string, number> }).storedActivity;
    for (let i = 0; i < ACTIVITY_KEEP; i++) {
      use(t.clock.now + i);
      if (i % 100 === 99) await usage.flush();
    }
    usage.record({
      keyId: other.id,
      at: t.clock.now,
      endpoint: "GET /a",
      projectId: null,
      ip: null,
      outcome: "ok",
    });
    await usage.flush();
    expect([...known().keys()]).toEqual([other.id]);
    // The first key, forgotten, is over ACTIVITY_KEEP with its next use: pruned all the same.
    use(t.clock.now + 5_000);
    await usage.flush();
    expect(await t.deps.store.usage.countActivity(key.id)).toBe(ACTIVITY_KEEP);
    expect(known().size).toBe(1);
  });

  it("samples a flood's activity rows per flush; counts stay exact and the rest is sampled", async () => {
    const sample = t.deps.config.usageActivitySample;
    for (let i = 0; i < sample + 250; i++) use(t.clock.now + i, i % 2 ? "GET /a" : "GET /b");
    await usage.flush();
    expect((await t.deps.store.keys.byHash(key.key_hash))?.usage_count).toBe(sample + 250);
    expect(await t.deps.store.usage.countActivity(key.id)).toBe(sample);
    expect(await t.deps.store.usage.sampled(key.id)).toBe(250);
    const summary = await t.services.keyViews.usage(key.id);
    expect(summary.byEndpoint.reduce((n, e) => n + e.count, 0)).toBe(sample + 250);
    const [newest] = await t.services.keyViews.activity(key.id, { limit: 1 });
    expect(newest?.at).toBe(t.clock.now + sample + 249);
    use(t.clock.now + 10_000);
    await usage.flush();
    expect(await t.deps.store.usage.sampled(key.id)).toBe(250);
    expect(await t.deps.store.usage.countActivity(key.id)).toBe(sample + 1);
  });

  it("merges a failed flush back and writes it with the next one", async () => {
    use(t.clock.now);
    const realFlush = t.deps.store.usage.flush.bind(t.deps.store.usage);
    let fail = true;
    t.deps.store.usage.flush = (batch) => {
      if (fail) return Promise.reject(new Error("store down"));
      return realFlush(batch);
    };
    await usage.flush();
    expect((await t.deps.store.keys.byHash(key.key_hash))?.usage_count).toBe(0);
    fail = false;
    use(t.clock.now + 1);
    await usage.flush();
    expect((await t.deps.store.keys.byHash(key.key_hash))?.usage_count).toBe(2);
  });

  it("keeps every bucket exact across a failed flush and the uses made while it ran", async () => {
    const at = t.clock.now;
    use(at);
    use(at, "GET /b");
    const realFlush = t.deps.store.usage.flush.bind(t.deps.store.usage);
    let release: () => void = () => undefined;
    let fail = true;
    t.deps.store.usage.flush = async (batch) => {
      if (!fail) return realFlush(batch);
      await new Promise<void>((resolve) => (release = resolve));
      throw new Error("store down");
    };
    const failing = usage.flush();
    await new Promise((resolve) => setImmediate(resolve)); // the flush holds its batch
    use(at + 1); // a fresh batch, the same buckets
    use(at + 1, "GET /b");
    release();
    await failing;
    use(at + 2); // after the merge: the bucket the merge kept, not a lost copy
    use(at + 2, "GET /c");
    fail = false;
    await usage.flush();
    const summary = await t.services.keyViews.usage(key.id);
    expect(summary.byEndpoint).toEqual([
      { endpoint: "GET /a", count: 3 },
      { endpoint: "GET /b", count: 2 },
      { endpoint: "GET /c", count: 1 },
    ]);
    expect((await t.deps.store.keys.byHash(key.key_hash))?.usage_count).toBe(6);
  });
});

describe("UsageBuffer under a flood of many keys", () => {
  it("writes at most the per-second budget of activity rows, one per key always, and counts the rest", async () => {
    // 20 rows a second, flushed every 500 ms: 10 rows per flush, all keys together.
    const t = await testServices({
      env: { LATCHKEY_USAGE_ACTIVITY_PER_SECOND: "20", LATCHKEY_USAGE_FLUSH_MS: "500" },
    });
    const usage = new UsageBuffer(t.deps);
    try {
      const signedUp = await signUp(t, "ada@example.test");
      await t.services.users.update(
        signedUp.id,
        { plan: "enterprise" },
        { actor: "t", userId: "t", ip: null },
      );
      const owner = { ...signedUp, plan: "enterprise" as const };
      const keys: KeyRow[] = [];
      for (let k = 0; k < 12; k++) {
        const { row } = await t.services.apiKeys.create(sessionCaller(owner), {
          name: `k${k}`,
          scopes: ["keys:read"],
        });
        keys.push(row);
      }
      for (let i = 0; i < 30; i++)
        for (const key of keys)
          usage.record({
            keyId: key.id,
            at: t.clock.now + i,
            endpoint: "GET /a",
            projectId: null,
            ip: null,
            outcome: "ok",
          });
      await usage.flush();
      let rows = 0;
      let sampled = 0;
      for (const key of keys) {
        const stored = await t.deps.store.keys.byHash(key.key_hash);
        expect(stored?.usage_count).toBe(30);
        const held = await t.deps.store.usage.countActivity(key.id);
        expect(held).toBeGreaterThanOrEqual(1); // every key's newest use is seen
        const [newest] = await t.services.keyViews.activity(key.id, { limit: 1 });
        expect(newest?.at).toBe(t.clock.now + 29);
        rows += held;
        sampled += await t.deps.store.usage.sampled(key.id);
      }
      // The budget (10) is below the number of keys (12): one row each, no more.
      expect(rows).toBe(12);
      expect(rows + sampled).toBe(12 * 30);
    } finally {
      await usage.close();
      await t.close();
    }
  });
});
