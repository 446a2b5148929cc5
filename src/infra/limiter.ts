import type { Redis } from "ioredis";
import { MemoryMeter, RedisMeter, type Meter } from "./meter.js";

export interface WindowState {
  /** Hits in the current window, this one included. */
  count: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

export interface SpendState extends WindowState {
  /** The named change version, read in the same trip; null when versions are not shared. */
  version: string | null;
}

/**
 * Fixed-window counters: failed-login throttles, 2FA lockouts and per-key rate limits.
 * In memory for one instance; through Redis so several instances share one budget.
 *
 * Also change versions (API keys): a counter per name that writers bump before they
 * answer, so another instance can tell that what it cached is stale. Only a shared
 * limiter (Redis) has them; in memory the bus alone keeps the one instance's cache fresh.
 */
export interface Limiter {
  hit(key: string, windowMs: number, cost?: number): Promise<WindowState>;
  /**
   * `hit` for the verification hot path, reading the version named `versionOf` in the same
   * round trip (when versions are shared; otherwise `version` is null). In memory it answers
   * at once, with no promise: the caller awaits only a promise.
   */
  spend(
    key: string,
    windowMs: number,
    versionOf: string,
    cost?: number,
  ): SpendState | Promise<SpendState>;
  /** Whether versions are shared between instances (false: `version` is always null). */
  readonly sharesVersions: boolean;
  /** The current version of `name` ("0" before its first bump); null when not shared. */
  version(name: string): Promise<string | null>;
  /** Bumps the version of `name`, telling every instance that reads it. */
  bumpVersion(name: string): Promise<void>;
  peek(key: string): Promise<WindowState>;
  /**
   * Gives back `cost` hits taken by `hit` that did not happen after all (an attempt
   * reserved, then refused or passed): never below zero, never a new window, and a no-op
   * once the window has ended or been reset.
   */
  release(key: string, cost?: number): Promise<void>;
  reset(key: string): Promise<void>;
  /** Usage credits and named rate limits (issue 20), kept where this limiter keeps its windows. */
  readonly meter: Meter;
  close(): Promise<void>;
}

export class MemoryLimiter implements Limiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly sweeper: NodeJS.Timeout;
  readonly meter: MemoryMeter;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
    this.meter = new MemoryMeter(now);
  }

  readonly sharesVersions = false;

  async hit(key: string, windowMs: number, cost = 1): Promise<WindowState> {
    return this.count(key, windowMs, cost);
  }

  spend(key: string, windowMs: number, _versionOf: string, cost = 1): SpendState {
    const now = this.now();
    const window = this.window(key, windowMs, now);
    window.count += cost;
    return { count: window.count, resetMs: window.resetAt - now, version: null };
  }

  async version(): Promise<string | null> {
    return null;
  }

  async bumpVersion(): Promise<void> {
    // One instance: the bus already told its cache.
  }

  private window(key: string, windowMs: number, now: number): { count: number; resetAt: number } {
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, window);
    }
    return window;
  }

  private count(key: string, windowMs: number, cost: number): WindowState {
    const now = this.now();
    const window = this.window(key, windowMs, now);
    window.count += cost;
    return { count: window.count, resetMs: window.resetAt - now };
  }

  async peek(key: string): Promise<WindowState> {
    const now = this.now();
    const window = this.windows.get(key);
    if (!window || window.resetAt <= now) return { count: 0, resetMs: 0 };
    return { count: window.count, resetMs: window.resetAt - now };
  }

  async release(key: string, cost = 1): Promise<void> {
    const window = this.windows.get(key);
    if (!window || window.resetAt <= this.now()) return;
    window.count = Math.max(0, window.count - cost);
  }

  async reset(key: string): Promise<void> {
    this.windows.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.meter.close();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
  }
}

// Counts `cost` hits in a fixed window; given a second key (a version), reads it too.
const HIT_SCRIPT = `
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if KEYS[2] then return {count, ttl, redis.call('GET', KEYS[2]) or '0'} end
return {count, ttl}
`;

// Decrements only a key that exists and is above zero (DECRBY keeps its TTL), so a late
// release neither creates a window without expiry nor drives a count negative.
const RELEASE_SCRIPT = `
local count = tonumber(redis.call('GET', KEYS[1]))
if not count or count <= 0 then return 0 end
local cost = math.min(count, tonumber(ARGV[1]))
return redis.call('DECRBY', KEYS[1], cost)
`;

export class RedisLimiter implements Limiter {
  readonly sharesVersions = true;
  readonly meter: Meter;

  /** Windows live under `namespace`, versions under `versionNamespace`. */
  constructor(
    private readonly redis: Redis,
    private readonly namespace: string,
    private readonly versionNamespace: string,
  ) {
    this.meter = new RedisMeter(redis, `${namespace}m:`);
  }

  async spend(key: string, windowMs: number, versionOf: string, cost = 1): Promise<SpendState> {
    const [count, ttl, version] = (await this.redis.eval(
      HIT_SCRIPT,
      2,
      this.namespace + key,
      this.versionNamespace + versionOf,
      windowMs,
      cost,
    )) as [number, number, string];
    return { count, resetMs: Math.max(0, ttl), version: String(version) };
  }

  async version(name: string): Promise<string> {
    return (await this.redis.get(this.versionNamespace + name)) ?? "0";
  }

  async bumpVersion(name: string): Promise<void> {
    await this.redis.incr(this.versionNamespace + name);
  }

  async hit(key: string, windowMs: number, cost = 1): Promise<WindowState> {
    const [count, ttl] = (await this.redis.eval(
      HIT_SCRIPT,
      1,
      this.namespace + key,
      windowMs,
      cost,
    )) as [number, number];
    return { count, resetMs: Math.max(0, ttl) };
  }

  async peek(key: string): Promise<WindowState> {
    const [count, ttl] = await Promise.all([
      this.redis.get(this.namespace + key),
      this.redis.pttl(this.namespace + key),
    ]);
    if (count === null) return { count: 0, resetMs: 0 };
    return { count: Number(count), resetMs: Math.max(0, ttl) };
  }

  async release(key: string, cost = 1): Promise<void> {
    await this.redis.eval(RELEASE_SCRIPT, 1, this.namespace + key, cost);
  }

  async reset(key: string): Promise<void> {
    await this.redis.del(this.namespace + key);
  }

  async close(): Promise<void> {
    // the shared Redis connection is closed by its owner
  }
}
