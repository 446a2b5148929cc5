import { LatchkeyError } from "../../core/errors.js";
import { PLAN_KEY_LIMITS, type Plan } from "../../core/plans.js";
import type { Store } from "../../store/port.js";

export interface PlanState {
  /** Active keys allowed; null is unlimited. */
  limit: number | null;
  /** How many keys count against the limit once `extra` keys are added. */
  counted(extra: { id: string; rotated_from: string | null }[]): number;
  /** Active keys by the id of the key they were rotated from. */
  successorOf: Map<string, string>;
}

/**
 * The owner's plan limit and a counter of active keys, read under a lock that
 * serialises key creation per owner (`users.planForUpdate`; call inside a transaction).
 * A key superseded by an active rotation successor is free, unless that successor
 * was itself rotated (one overlap per chain).
 */
export async function planState(tx: Store, ownerId: string, now: number): Promise<PlanState> {
  const plan = await tx.users.planForUpdate(ownerId);
  if (plan === undefined) throw new LatchkeyError("not_found", "user not found");
  const limit = PLAN_KEY_LIMITS[plan as Plan] ?? null;
  const active = await tx.keys.activeOf(ownerId, now);
  const successorOf = new Map<string, string>();
  for (const k of active) if (k.rotated_from) successorOf.set(k.rotated_from, k.id);
  const counted = (extra: { id: string; rotated_from: string | null }[]) => {
    const all = [...active, ...extra];
    const next = new Map(successorOf);
    for (const k of extra) if (k.rotated_from) next.set(k.rotated_from, k.id);
    return all.filter((k) => {
      const successor = next.get(k.id);
      return successor === undefined || next.has(successor);
    }).length;
  };
  return { limit, counted, successorOf };
}

export function planLimit(limit: number): LatchkeyError {
  return new LatchkeyError(
    "plan_limit_reached",
    `your plan allows ${limit} active API keys; revoke one or upgrade`,
    { limit },
  );
}
