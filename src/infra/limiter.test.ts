import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryLimiter, RedisLimiter, type Limiter } from "./limiter.js";

const WINDOW_MS = 60_000;

/** The same contract for both limiters; `elapse` ends the current window. */
function contract(make: () => { limiter: Limiter; elapse: () => Promise<void> }) {
  let limiter: Limiter;
  let elapse: () => Promise<void>;
  let n = 0;
  const key = () => `test:${(n += 1)}`;

  beforeAll(() => {
    ({ limiter, elapse } = make());
  });

  it("hit counts up atomically under concurrency and peek reads without counting", async () => {
    const k = key();
    const states = await Promise.all(Array.from({ length: 25 }, () => limiter.hit(k, WINDOW_MS)));
    expect(states.map((s) => s.count).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    expect((await limiter.peek(k)).count).toBe(25);
    expect((await limiter.peek(k)).resetMs).toBeGreaterThan(WINDOW_MS - 5_000);
  });

  it("release gives hits back, keeps the window and its expiry", async () => {
    const k = key();
    await limiter.hit(k, WINDOW_MS, 5);
    const before = await limiter.peek(k);
    await limiter.release(k);
    await limiter.release(k, 2);
    const after = await limiter.peek(k);
    expect(after.count).toBe(2);
    expect(after.resetMs).toBeLessThanOrEqual(before.resetMs);
    expect(after.resetMs).toBeGreaterThan(WINDOW_MS - 5_000);
  });

  it("release never goes below zero, even when raced", async () => {
    const k = key();
    await limiter.hit(k, WINDOW_MS, 3);
    await Promise.all(Array.from({ length: 10 }, () => limiter.release(k)));
    expect((await limiter.peek(k)).count).toBe(0);
    await limiter.release(k, 5);
    expect((await limiter.peek(k)).count).toBe(0);
    // The window it belonged to still runs: the next hit counts from one within it.
    expect((await limiter.hit(k, WINDOW_MS)).count).toBe(1);
  });

  it("release creates no window for an unknown, reset or ended key", async () => {
    const unknown = key();
    await limiter.release(unknown);
    expect(await limiter.peek(unknown)).toEqual({ count: 0, resetMs: 0 });
    expect((await limiter.hit(unknown, WINDOW_MS)).count).toBe(1);

    const reset = key();
    await limiter.hit(reset, WINDOW_MS, 4);
    await limiter.reset(reset);
    await limiter.release(reset);
    expect(await limiter.peek(reset)).toEqual({ count: 0, resetMs: 0 });

    const ended = key();
    await limiter.hit(ended, 50, 2);
    await elapse();
    await limiter.release(ended);
    expect(await limiter.peek(ended)).toEqual({ count: 0, resetMs: 0 });
    expect((await limiter.hit(ended, WINDOW_MS)).count).toBe(1);
  });

  it("spend counts in the same window as hit, with its cost", async () => {
    const k = key();
    await limiter.hit(k, WINDOW_MS, 2);
    const spent = await limiter.spend(k, WINDOW_MS, `${k}:version`, 3);
    expect(spent.count).toBe(5);
    expect(spent.resetMs).toBeGreaterThan(WINDOW_MS - 5_000);
    expect((await limiter.spend(k, WINDOW_MS, `${k}:version`)).count).toBe(6);
  });

  it("versions: shared ones start at 0 and move on each bump, read alone or with a spend", async () => {
    const k = key();
    if (!limiter.sharesVersions) {
      await limiter.bumpVersion(k);
      expect(await limiter.version(k)).toBeNull();
      expect((await limiter.spend(`${k}:w`, WINDOW_MS, k)).version).toBeNull();
      return;
    }
    expect(await limiter.version(k)).toBe("0");
    expect((await limiter.spend(`${k}:w`, WINDOW_MS, k)).version).toBe("0");
    await limiter.bumpVersion(k);
    await limiter.bumpVersion(k);
    expect(await limiter.version(k)).toBe("2");
    const spent = await limiter.spend(`${k}:w`, WINDOW_MS, k);
    expect(spent).toMatchObject({ count: 2, version: "2" });
  });

  it("reserving first admits exactly the limit out of a concurrent burst", async () => {
    const k = key();
    const limit = 10;
    const admitted = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const { count } = await limiter.hit(k, WINDOW_MS);
        if (count <= limit) return true;
        await limiter.release(k);
        return false;
      }),
    );
    expect(admitted.filter(Boolean)).toHaveLength(limit);
    expect((await limiter.peek(k)).count).toBe(limit);
  });
}

describe("MemoryLimiter", () => {
  let now = 1_800_000_000_000;
  const limiter = new MemoryLimiter(() => now);
  afterAll(() => limiter.close());
  contract(() => ({
    limiter,
    elapse: async () => {
      now += WINDOW_MS * 2;
    },
  }));
});

describe.skipIf(!process.env.TEST_REDIS_URL)(
  `RedisLimiter${process.env.TEST_REDIS_URL ? "" : " (skipped: TEST_REDIS_URL is not set)"}`,
  () => {
    const prefix = `lktest:${randomBytes(6).toString("hex")}:`;
    let redis: Redis;
    beforeAll(() => {
      redis = new Redis(process.env.TEST_REDIS_URL!);
    });
    afterAll(async () => {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    });
    contract(() => ({
      limiter: new RedisLimiter(redis, prefix, `${prefix}kv:`),
      elapse: () => new Promise((resolve) => setTimeout(resolve, 120)),
    }));

    it("release leaves a key's expiry in place (no key without a TTL)", async () => {
      const limiter = new RedisLimiter(redis, prefix, `${prefix}kv:`);
      await limiter.hit("ttl", WINDOW_MS, 2);
      await limiter.release("ttl", 2);
      expect(await redis.get(`${prefix}ttl`)).toBe("0");
      expect(await redis.pttl(`${prefix}ttl`)).toBeGreaterThan(0);
      await limiter.release("gone");
      expect(await redis.exists(`${prefix}gone`)).toBe(0);
    });
  },
);
