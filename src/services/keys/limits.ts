import { periodStart, type Balance } from "../../core/credits.js";
import type { KeyPatch } from "../../store/port.js";
import { NO_LIMITS, refillOf, toStoredLimits, type LimitColumns } from "./budget.js";
import type { ApiKey, NamedLimitInput, Refill } from "./model.js";

/** A new key's credits and named limits (issue 20); refill without `remaining` starts full. */
export function creditColumns(
  input: {
    remaining?: number | undefined;
    refill?: Refill | undefined;
    ratelimits?: NamedLimitInput[] | undefined;
  },
  now: number,
): LimitColumns {
  const remaining = input.remaining ?? input.refill?.amount ?? null;
  const refill = remaining === null ? null : (input.refill ?? null);
  return {
    ...NO_LIMITS,
    credits_remaining: remaining,
    credits_refill_amount: refill?.amount ?? null,
    credits_refill_interval: refill?.interval ?? null,
    credits_period: refill ? periodStart(refill.interval, now) : 0,
    ratelimits: input.ratelimits?.length ? JSON.stringify(toStoredLimits(input.ratelimits)) : null,
  };
}

/**
 * An edit of a key's credits or named limits, into `values`; answers what changed, for the
 * audit log. Any change of the credits starts a new generation of the balance, seeded with
 * the new balance (or the live one, when only the refill changes), so counters that other
 * instances or Redis hold for the old one are left behind rather than overwritten in a race.
 */
export function limitsChange(
  row: ApiKey,
  patch: {
    remaining?: number | null | undefined;
    refill?: Refill | null | undefined;
    ratelimits?: NamedLimitInput[] | null | undefined;
  },
  live: Balance | null,
  now: number,
  values: KeyPatch,
): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  if (patch.remaining !== undefined || patch.refill !== undefined) {
    const refill = patch.refill === undefined ? refillOf(row) : patch.refill;
    const remaining =
      patch.remaining !== undefined
        ? patch.remaining
        : (live?.remaining ?? (patch.refill ? patch.refill.amount : null));
    const kept = remaining === null ? null : refill;
    Object.assign(values, {
      credits_remaining: remaining,
      credits_refill_amount: kept?.amount ?? null,
      credits_refill_interval: kept?.interval ?? null,
      credits_period: kept ? periodStart(kept.interval, now) : 0,
      credits_gen: Number(row.credits_gen) + 1,
      credits_pool: remaining === null ? null : (row.credits_pool ?? row.id),
    } satisfies KeyPatch);
    changes.remaining = remaining;
    changes.refill = kept;
  }
  if (patch.ratelimits !== undefined) {
    const next = patch.ratelimits?.length ? JSON.stringify(toStoredLimits(patch.ratelimits)) : null;
    if (next !== row.ratelimits) {
      values.ratelimits = next;
      changes.ratelimits = patch.ratelimits ?? [];
    }
  }
  return changes;
}
