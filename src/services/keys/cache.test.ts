import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { migrate, openDb, type Db } from "../../store/db.js";
import { LocalBus } from "../../infra/bus.js";
import type { Context } from "../context.js";
import { KeyCache } from "./cache.js";
import { sha256 } from "../../infra/secrets.js";

describe("KeyCache", () => {
  let store: Db;
  let bus: LocalBus;
  let now = 1_800_000_000_000;
  let cache: KeyCache;
  const hash = sha256("lk_live_example");

  beforeEach(async () => {
    store = openDb(":memory:");
    await migrate(store);
    bus = new LocalBus();
    const ctx = { db: store.db, bus, now: () => now } as unknown as Context;
    cache = new KeyCache(ctx);
    await store.db
      .insertInto("users")
      .values({
        id: "usr_1",
        email: "a@example.test",
        password_hash: "x",
        role: "owner",
        is_staff: 0,
        is_service: 0,
        plan: "free",
        disabled: 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
  });
  afterEach(async () => store.close());

  async function insertKey(): Promise<void> {
    await store.db
      .insertInto("api_keys")
      .values({
        id: "key_1",
        owner_id: "usr_1",
        name: "ci",
        prefix: "lk_live_exam",
        key_hash: hash,
        environment: "live",
        scopes: '["services:read"]',
        project_id: null,
        ip_allow: null,
        created_at: now,
        expires_at: null,
        revoked_at: null,
        last_used_at: null,
        usage_count: 0,
        rotated_from: null,
        parent_key_id: null,
      })
      .execute();
  }

  it("remembers an unknown hash briefly, and forgets it when a key with that hash is created", async () => {
    expect(cache.peek(hash)).toBeUndefined();
    expect(await cache.load(hash)).toBeNull();
    expect(cache.peek(hash)).toBeNull();
    await insertKey();
    await bus.publish({ type: "key_changed", keyId: "key_1", keyHash: hash, revoked: false });
    expect(cache.peek(hash)).toBeUndefined();
    expect((await cache.load(hash))?.id).toBe("key_1");
    expect(cache.peek(hash)?.grants).toEqual(["services:read"]);
  });

  it("never remembers an unknown hash for longer than a few seconds", async () => {
    await cache.load(hash);
    await insertKey(); // e.g. created on an instance whose message was lost
    now += 10_000;
    expect(cache.peek(hash)).toBeUndefined();
    expect((await cache.load(hash))?.id).toBe("key_1");
  });

  it("does not cache a row read while the key was changing", async () => {
    await insertKey();
    const row = await store.db.selectFrom("api_keys").selectAll().executeTakeFirstOrThrow();
    // A store whose read sees the row at once but answers only when the test says so.
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const slowDb = {
      selectFrom: () => ({
        selectAll: () => ({
          where: () => ({
            executeTakeFirst: async () => {
              const seen = { ...row };
              await held;
              return seen;
            },
          }),
        }),
      }),
    };
    const racing = new KeyCache({ db: slowDb, bus, now: () => now } as unknown as Context);
    const reading = racing.load(hash);
    // Revoked (and announced) after the read saw the row, before it answered.
    await bus.publish({ type: "key_changed", keyId: "key_1", keyHash: hash, revoked: true });
    answer();
    expect((await reading)?.revokedAt).toBeNull(); // this one request may see the old row…
    expect(racing.peek(hash)).toBeUndefined(); // …but it is not kept for the next one
  });

  it("re-reads a cached row after five minutes even without a message", async () => {
    await insertKey();
    await cache.load(hash);
    expect(cache.peek(hash)?.revokedAt).toBeNull();
    await store.db.updateTable("api_keys").set({ revoked_at: now }).execute();
    now += 5 * 60_000;
    expect(cache.peek(hash)).toBeUndefined();
  });
});
