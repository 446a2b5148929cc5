import {
  refillOf,
  storedLimits,
  type Balance,
  type RefillInterval,
  type StoredLimit,
} from "../../core/credits.js";

export { refillOf, storedBalance, storedLimits, type StoredLimit } from "../../core/credits.js";
import type { OwnerLimitRow } from "../../store/port.js";
import { parseDuration } from "../../core/durations.js";
import type { ApiKey, NamedLimitInput } from "./model.js";

/** Where a named limit is set: on the key, or on its owner (shared by all the owner's keys). */
export type LimitScope = "key" | "owner";

/** A named limit as the hot path spends it: its counter's name made once, per cached row. */
export interface NamedLimit {
  name: string;
  scope: LimitScope;
  counter: string;
  limit: number;
  windowMs: number;
  /** Spent by a verification that does not name this limit (or names it without a cost). */
  cost: number;
}

export interface KeyCredits {
  counter: string;
  /** The stored balance (the live counter's seed). */
  seed: Balance;
  refill: { amount: number; interval: RefillInterval } | null;
  pool: string;
  gen: number;
}

/**
 * What a verification of the key meters: its credits and its named limits with its owner's
 * (a key's own limit shadows the owner's of the same name). Null on a key with neither, so
 * the hot path pays one null check for keys without them.
 */
export interface KeyBudget {
  credits: KeyCredits | null;
  limits: NamedLimit[];
}

export const creditsCounter = (pool: string, gen: number): string => `cr:${pool}:${gen}`;
export const limitCounter = (scope: LimitScope, ownerOrKey: string, name: string): string =>
  `nl:${scope}:${ownerOrKey}:${name}`;

export function budgetOf(row: ApiKey, ownerLimits: readonly OwnerLimitRow[]): KeyBudget | null {
  const own = storedLimits(row);
  if (row.credits_remaining === null && own.length === 0 && ownerLimits.length === 0) return null;
  const limits: NamedLimit[] = own.map((l) => ({
    name: l.name,
    scope: "key",
    counter: limitCounter("key", row.id, l.name),
    limit: l.limit,
    windowMs: l.window_ms,
    cost: l.cost,
  }));
  for (const l of ownerLimits)
    if (!own.some((k) => k.name === l.name))
      limits.push({
        name: l.name,
        scope: "owner",
        counter: limitCounter("owner", l.owner_id, l.name),
        limit: Number(l.limit),
        windowMs: Number(l.window_ms),
        cost: Number(l.cost),
      });
  const gen = Number(row.credits_gen);
  const credits =
    row.credits_remaining === null
      ? null
      : {
          counter: creditsCounter(row.credits_pool ?? row.id, gen),
          pool: row.credits_pool ?? row.id,
          seed: { remaining: Number(row.credits_remaining), period: Number(row.credits_period) },
          refill: refillOf(row),
          gen,
        };
  return { credits, limits };
}

/** The columns that carry a key's credits and named limits. */
export type LimitColumns = Pick<
  ApiKey,
  | "credits_remaining"
  | "credits_refill_amount"
  | "credits_refill_interval"
  | "credits_period"
  | "credits_gen"
  | "credits_pool"
  | "ratelimits"
>;

export const NO_LIMITS: LimitColumns = {
  credits_remaining: null,
  credits_refill_amount: null,
  credits_refill_interval: null,
  credits_period: 0,
  credits_gen: 0,
  credits_pool: null,
  ratelimits: null,
};

/** Limits as given (validated by the wire schema) to their stored form. */
export function toStoredLimits(limits: readonly NamedLimitInput[]): StoredLimit[] {
  return limits.map((l) => ({
    name: l.name,
    limit: l.limit,
    window_ms: parseDuration(l.window)!,
    cost: l.cost ?? 1,
  }));
}
