import type { Redis } from "ioredis";
import type { Balance } from "../core/credits.js";

/** A key's usage credits as one metered call sees them (issue 20). */
export interface MeterCredits {
  /** The balance's counter; a new generation of the key's balance gets a new name. */
  counter: string;
  cost: number;
  /** What the counter starts from when it holds nothing yet: the stored balance. */
  seed: Balance;
  /** The refill amount; null without refill. */
  refill: number | null;
  /** Start of the current refill period (0 without refill). */
  period: number;
}

/** A named rate limit as one metered call spends it. */
export interface MeterLimit {
  counter: string;
  limit: number;
  windowMs: number;
  cost: number;
}

export interface MeterAsk {
  now: number;
  credits: MeterCredits | null;
  limits: readonly MeterLimit[];
}

export interface MeterAnswer {
  /** `ok`: everything spent; otherwise nothing was (credits are checked first). */
  outcome: "ok" | "usage_exceeded" | "rate_limited";
  /** The balance after this call (as it was, when refused); null without credits. */
  remaining: number | null;
  /** Per limit, in order: its sliding-window use after this call (before it, when refused). */
  used: number[];
}

/**
 * Credits and named rate limits, checked and spent all at once or not at all, so that
 * concurrent calls (on one instance, or on several sharing Redis) never spend past a
 * balance or a limit. Rate limits are sliding-window counters: the previous fixed window's
 * count, weighted by how much of it the sliding window still covers, plus the current one's.
 */
export interface Meter {
  /** In memory: answered at once, no promise. */
  spend(ask: MeterAsk): MeterAnswer | Promise<MeterAnswer>;
  /** The live balances of credits counters, in order; null for one no call has used yet. */
  balances(counters: readonly string[]): Promise<(Balance | null)[]>;
}

/** The sliding-window estimate of a limit's use, from its two fixed windows. */
export function slidingUse(prev: number, cur: number, windowMs: number, now: number): number {
  const elapsed = now % windowMs;
  return (prev * (windowMs - elapsed)) / windowMs + cur;
}

interface Window {
  index: number;
  cur: number;
  prev: number;
  windowMs: number;
}

export class MemoryMeter implements Meter {
  private readonly credits = new Map<string, Balance>();
  private readonly windows = new Map<string, Window>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  spend(ask: MeterAsk): MeterAnswer {
    const { credits, limits, now } = ask;
    let balance: Balance | null = null;
    if (credits) {
      balance = this.credits.get(credits.counter) ?? { ...credits.seed };
      if (credits.refill !== null && credits.period > balance.period) {
        balance.remaining = credits.refill;
        balance.period = credits.period;
      }
      this.credits.set(credits.counter, balance);
    }
    const windows: Window[] = [];
    const used: number[] = [];
    let outcome: MeterAnswer["outcome"] =
      credits && balance!.remaining < credits.cost ? "usage_exceeded" : "ok";
    for (const limit of limits) {
      const window = this.window(limit, now);
      windows.push(window);
      const use = slidingUse(window.prev, window.cur, limit.windowMs, now);
      used.push(use);
      if (outcome === "ok" && use + limit.cost > limit.limit) outcome = "rate_limited";
    }
    if (outcome === "ok") {
      if (credits) balance!.remaining -= credits.cost;
      for (let i = 0; i < limits.length; i++) {
        windows[i]!.cur += limits[i]!.cost;
        used[i]! += limits[i]!.cost;
      }
    }
    return { outcome, remaining: balance ? balance.remaining : null, used };
  }

  private window(limit: MeterLimit, now: number): Window {
    const index = Math.floor(now / limit.windowMs);
    let window = this.windows.get(limit.counter);
    if (!window || window.windowMs !== limit.windowMs) {
      window = { index, cur: 0, prev: 0, windowMs: limit.windowMs };
      this.windows.set(limit.counter, window);
    } else if (window.index !== index) {
      window.prev = window.index === index - 1 ? window.cur : 0;
      window.cur = 0;
      window.index = index;
    }
    return window;
  }

  async balances(counters: readonly string[]): Promise<(Balance | null)[]> {
    return counters.map((counter) => {
      const balance = this.credits.get(counter);
      return balance ? { ...balance } : null;
    });
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = this.now();
    for (const [name, window] of this.windows)
      if (Math.floor(now / window.windowMs) > window.index + 1) this.windows.delete(name);
  }
}

// KEYS: the credits hash (when ARGV[1] is 1), then two per limit (current, previous window).
// ARGV: hasCredits, [cost, seedRemaining, seedPeriod, refill (-1: none), period],
// then four per limit: windowMs, limit, cost, elapsed in the current window.
// Floats go back as strings: Redis truncates Lua numbers to integers.
const METER_SCRIPT = `
local a = 2
local k = 1
local has = ARGV[1] == '1'
local balance = -1
local ccost = 0
if has then
  ccost = tonumber(ARGV[2])
  local state = redis.call('HMGET', KEYS[1], 'b', 'p')
  local b = tonumber(state[1])
  local p = tonumber(state[2])
  if not b then b = tonumber(ARGV[3]); p = tonumber(ARGV[4]) end
  local refill = tonumber(ARGV[5])
  local period = tonumber(ARGV[6])
  if refill >= 0 and period > p then b = refill; p = period end
  balance = b
  redis.call('HSET', KEYS[1], 'b', b, 'p', p)
  a = 7
  k = 2
end
local n = (#ARGV - a + 1) / 4
local used = {}
local refused = 0
if has and balance < ccost then refused = 1 end
for i = 0, n - 1 do
  local w = tonumber(ARGV[a + i * 4])
  local limit = tonumber(ARGV[a + i * 4 + 1])
  local cost = tonumber(ARGV[a + i * 4 + 2])
  local elapsed = tonumber(ARGV[a + i * 4 + 3])
  local cur = tonumber(redis.call('GET', KEYS[k + i * 2]) or '0')
  local prev = tonumber(redis.call('GET', KEYS[k + i * 2 + 1]) or '0')
  used[i + 1] = prev * (w - elapsed) / w + cur
  if refused == 0 and used[i + 1] + cost > limit then refused = 2 end
end
if refused == 0 then
  if has then
    balance = balance - ccost
    redis.call('HSET', KEYS[1], 'b', balance)
  end
  for i = 0, n - 1 do
    local w = tonumber(ARGV[a + i * 4])
    local cost = tonumber(ARGV[a + i * 4 + 2])
    if cost > 0 then
      redis.call('INCRBY', KEYS[k + i * 2], cost)
      redis.call('PEXPIRE', KEYS[k + i * 2], w * 2)
    end
    used[i + 1] = used[i + 1] + cost
  end
end
local out = {refused, balance}
for i = 1, n do out[#out + 1] = tostring(used[i]) end
return out
`;

const OUTCOMES = ["ok", "usage_exceeded", "rate_limited"] as const;

/** The meter shared by every instance: one Lua script per metered call (one round trip). */
export class RedisMeter implements Meter {
  constructor(
    private readonly redis: Redis,
    private readonly namespace: string,
  ) {}

  async spend(ask: MeterAsk): Promise<MeterAnswer> {
    const { credits, limits, now } = ask;
    const keys: string[] = [];
    const args: (string | number)[] = [credits ? 1 : 0];
    if (credits) {
      keys.push(this.namespace + credits.counter);
      args.push(
        credits.cost,
        credits.seed.remaining,
        credits.seed.period,
        credits.refill ?? -1,
        credits.period,
      );
    }
    for (const limit of limits) {
      const index = Math.floor(now / limit.windowMs);
      keys.push(`${this.namespace}${limit.counter}:${index}`);
      keys.push(`${this.namespace}${limit.counter}:${index - 1}`);
      args.push(limit.windowMs, limit.limit, limit.cost, now % limit.windowMs);
    }
    const reply = (await this.redis.eval(METER_SCRIPT, keys.length, ...keys, ...args)) as [
      number,
      number,
      ...string[],
    ];
    const [refused, balance, ...used] = reply;
    return {
      outcome: OUTCOMES[refused]!,
      remaining: credits ? balance : null,
      used: used.map(Number),
    };
  }

  /** One pipelined round trip for all of them. */
  async balances(counters: readonly string[]): Promise<(Balance | null)[]> {
    if (counters.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const counter of counters) pipeline.hmget(this.namespace + counter, "b", "p");
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, value]) => {
      const [b, p] = (error ? [null, null] : value) as (string | null)[];
      if (b === null || b === undefined) return null;
      return { remaining: Number(b), period: Number(p ?? 0) };
    });
  }
}
