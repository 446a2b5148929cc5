/** Usage credits (issue 20): how often a key's balance is refilled, in UTC. */
export const REFILL_INTERVALS = ["daily", "monthly"] as const;
export type RefillInterval = (typeof REFILL_INTERVALS)[number];

export function isRefillInterval(value: unknown): value is RefillInterval {
  return value === "daily" || value === "monthly";
}

/** Epoch ms of the start of the UTC day or month that holds `now`. */
export function periodStart(interval: RefillInterval, now: number): number {
  const date = new Date(now);
  return interval === "daily"
    ? Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate())
    : Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

/** Epoch ms when the period holding `now` ends: the next refill. */
export function nextRefill(interval: RefillInterval, now: number): number {
  const date = new Date(now);
  return interval === "daily"
    ? Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1)
    : Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

export interface Balance {
  remaining: number;
  /** Start of the refill period `remaining` belongs to (0 without refill). */
  period: number;
}

/**
 * A stored balance as of `now`: a refill resets it to `amount` once a new period has begun
 * since the one it belongs to (the counters apply the same rule, atomically).
 */
export function balanceAt(
  stored: Balance,
  refill: { amount: number; interval: RefillInterval } | null,
  now: number,
): Balance {
  if (!refill) return stored;
  const period = periodStart(refill.interval, now);
  return period > stored.period ? { remaining: refill.amount, period } : stored;
}

const WINDOW_UNITS: [string, number][] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
];

/** A named limit's window as written (`1m`, `10s`, `1d`): the largest unit that divides it. */
export function formatWindow(ms: number): string {
  for (const [unit, size] of WINDOW_UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** A named rate limit as stored on a key or an owner (`window_ms` milliseconds). */
export interface StoredLimit {
  name: string;
  limit: number;
  window_ms: number;
  cost: number;
}

/** The credit columns of a key row, as stored. */
export interface CreditFields {
  credits_remaining: number | null;
  credits_refill_amount: number | null;
  credits_refill_interval: string | null;
  credits_period: number;
  ratelimits: string | null;
}

export function storedLimits(row: Pick<CreditFields, "ratelimits">): StoredLimit[] {
  return row.ratelimits === null ? [] : (JSON.parse(row.ratelimits) as StoredLimit[]);
}

export function refillOf(
  row: Pick<CreditFields, "credits_refill_amount" | "credits_refill_interval">,
): { amount: number; interval: RefillInterval } | null {
  const interval = row.credits_refill_interval;
  if (row.credits_refill_amount === null || !isRefillInterval(interval)) return null;
  return { amount: Number(row.credits_refill_amount), interval };
}

/** The stored balance as of `now` (a refill due since the last write-back applied). */
export function storedBalance(row: CreditFields, now: number): Balance | null {
  if (row.credits_remaining === null) return null;
  const stored = { remaining: Number(row.credits_remaining), period: Number(row.credits_period) };
  return balanceAt(stored, refillOf(row), now);
}
