import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testServices, type TestDeps } from "../../../test/store/deps.js";
import { sha256 } from "../../infra/secrets.js";
import type { KeyRow, KeyStore } from "../../store/port.js";
import { KeyCache } from "./cache.js";
import { NO_LIMITS } from "./budget.js";

describe("KeyCache", () => {
  let t: TestDeps;
  let cache: KeyCache;
  const hash = sha256("lk_live_example");

  beforeEach(async () => {
    t = await testServices();
    cache = new KeyCache(t.deps);
    const now = t.clock.now;
    await t.deps.store.users.insert({
      id: "usr_1",
      email: "a@example.test",
      password_hash: "x",
      role: "owner",
      is_staff: 0,
      is_service: 0,
      email_verified_at: null,
      plan: "free",
      disabled: 0,
      leak_policy: "revoke",
      created_at: now,
      updated_at: now,
    });
  });
  afterEach(async () => t.close());

  async function insertKey(): Promise<void> {
    await t.deps.store.keys.insert({
      id: "key_1",
      owner_id: "usr_1",
      name: "ci",
      prefix: "lk_live_exam",
      key_hash: hash,
      environment: "live",
      scopes: '["services:read"]',
      description: null,
      meta: null,
      disabled_at: null,
      leaked_at: null,
      leak_source: null,
      ...NO_LIMITS,
      project_id: null,
      ip_allow: null,
      created_at: t.clock.now,
      expires_at: null,
      revoked_at: null,
      last_used_at: null,
      usage_count: 0,
      rotated_from: null,
      parent_key_id: null,
    });
  }

  it("remembers an unknown hash briefly, and forgets it when a key with that hash is created", async () => {
    expect(cache.peek(hash)).toBeUndefined();
    expect(await cache.load(hash)).toBeNull();
    expect(cache.peek(hash)).toBeNull();
    await insertKey();
    await t.deps.bus.publish({
      type: "key_changed",
      keyId: "key_1",
      keyHash: hash,
      revoked: false,
    });
    expect(cache.peek(hash)).toBeUndefined();
    expect((await cache.load(hash))?.id).toBe("key_1");
    expect(cache.peek(hash)?.grants).toEqual(["services:read"]);
  });

  it("never remembers an unknown hash for longer than a few seconds", async () => {
    await cache.load(hash);
    await insertKey(); // e.g. created on an instance whose message was lost
    t.clock.now += 10_000;
    expect(cache.peek(hash)).toBeUndefined();
    expect((await cache.load(hash))?.id).toBe("key_1");
  });

  it("does not cache a row read while the key was changing", async () => {
    await insertKey();
    const row = (await t.deps.store.keys.byHash(hash))!;
    // A store whose read sees the row at once but answers only when the test says so.
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const keys: KeyStore = Object.create(t.deps.store.keys) as KeyStore;
    keys.byHash = async (): Promise<KeyRow> => {
      const seen = { ...row };
      await held;
      return seen;
    };
    const store = Object.assign(Object.create(t.deps.store) as typeof t.deps.store, { keys });
    const racing = new KeyCache({ ...t.deps, store });
    const reading = racing.load(hash);
    // Revoked (and announced) after the read saw the row, before it answered.
    await t.deps.bus.publish({ type: "key_changed", keyId: "key_1", keyHash: hash, revoked: true });
    answer();
    expect((await reading)?.revokedAt).toBeNull(); // this one request may see the old row…
    expect(racing.peek(hash)).toBeUndefined(); // …but it is not kept for the next one
  });

  it("re-reads a cached row after five minutes even without a message", async () => {
    await insertKey();
    await cache.load(hash);
    expect(cache.peek(hash)?.revokedAt).toBeNull();
    await t.deps.store.keys.revoke(["key_1"], t.clock.now);
    t.clock.now += 5 * 60_000;
    expect(cache.peek(hash)).toBeUndefined();
  });
});
