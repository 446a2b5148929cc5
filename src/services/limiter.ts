import type { Redis } from "ioredis";

export interface WindowState {
  /** Hits in the current window, this one included. */
  count: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

/**
 * Fixed-window counters: failed-login throttles, 2FA lockouts and per-key rate limits.
 * In memory for one instance; through Redis so several instances share one budget.
 */
export interface Limiter {
  hit(key: string, windowMs: number, cost?: number): Promise<WindowState>;
  peek(key: string): Promise<WindowState>;
  reset(key: string): Promise<void>;
  close(): Promise<void>;
}

export class MemoryLimiter implements Limiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  async hit(key: string, windowMs: number, cost = 1): Promise<WindowState> {
    return this.hitSync(key, windowMs, cost);
  }

  /** Synchronous form for the verification hot path. */
  hitSync(key: string, windowMs: number, cost = 1): WindowState {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, window);
    }
    window.count += cost;
    return { count: window.count, resetMs: window.resetAt - now };
  }

  async peek(key: string): Promise<WindowState> {
    const now = this.now();
    const window = this.windows.get(key);
    if (!window || window.resetAt <= now) return { count: 0, resetMs: 0 };
    return { count: window.count, resetMs: window.resetAt - now };
  }

  async reset(key: string): Promise<void> {
    this.windows.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
  }
}

const HIT_SCRIPT = `
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

export class RedisLimiter implements Limiter {
  constructor(
    private readonly redis: Redis,
    private readonly namespace: string,
  ) {}

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

  async reset(key: string): Promise<void> {
    await this.redis.del(this.namespace + key);
  }

  async close(): Promise<void> {
    // the shared Redis connection is closed by its owner
  }
}
