import type { ActivityRow, Store, UsageBucketRow } from "../../store/port.js";
import type { Deps } from "../deps.js";

export interface KeyUse {
  keyId: string;
  at: number;
  endpoint: string;
  /** The project a call named; null when none. */
  projectId: string | null;
  ip: string | null;
  /** `ok`, `valid`, or the refusal code. */
  outcome: string;
  /** For `POST /v1/keys/verify`: the verifying credential (`key_…` or `usr_…`). */
  verifiedBy?: string | null;
  /** Calls this use stands for (reported cached hits); 1 when absent. */
  count?: number;
}

/** Newest activity rows kept per key, in the database and in a buffer between flushes. */
export const ACTIVITY_KEEP = 1000;
const HOUR = 3_600_000;
const SEP = "\u0000";

interface Pending {
  keys: Map<string, { count: number; last: number }>;
  buckets: Map<string, number>;
  activity: Map<string, KeyUse[]>;
}

function empty(): Pending {
  return { keys: new Map(), buckets: new Map(), activity: new Map() };
}

/**
 * Usage counters off the request path: each call is added in memory and written in
 * one transaction every `usageFlushMs` (and on shutdown). A failed flush is merged back
 * and retried, so counts are late rather than lost.
 */
export class UsageBuffer {
  private pending = empty();
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /**
   * Each key's stored activity rows as this instance knows them, learnt once per key,
   * so pruning (a query per key) only runs for keys that may be over ACTIVITY_KEEP.
   */
  private readonly storedActivity = new Map<string, number>();

  constructor(private readonly deps: Deps) {
    this.timer = setInterval(() => void this.flush(), deps.config.usageFlushMs);
    this.timer.unref();
  }

  record(use: KeyUse): void {
    const { keys, buckets, activity } = this.pending;
    const key = keys.get(use.keyId);
    if (key) {
      key.count += 1;
      if (use.at > key.last) key.last = use.at;
    } else keys.set(use.keyId, { count: 1, last: use.at });
    const hour = Math.floor(use.at / HOUR) * HOUR;
    const bucket = [use.keyId, hour, use.endpoint, use.projectId ?? ""].join(SEP);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
    let rows = activity.get(use.keyId);
    if (!rows) activity.set(use.keyId, (rows = []));
    rows.push(use);
    // Only the newest rows survive pruning anyway; don't hold more of a flood than that.
    if (rows.length > 2 * ACTIVITY_KEEP) rows.splice(0, rows.length - ACTIVITY_KEEP);
  }

  /**
   * Adds `use.count` calls at once (cached hits a verifier reported): the same counters as
   * `count` calls of `record`, but one activity row standing for all of them. `record`, the
   * hot path's, stays as it was.
   */
  recordMany(use: KeyUse & { count: number }): void {
    const { keys, buckets, activity } = this.pending;
    const key = keys.get(use.keyId);
    if (key) {
      key.count += use.count;
      if (use.at > key.last) key.last = use.at;
    } else keys.set(use.keyId, { count: use.count, last: use.at });
    const hour = Math.floor(use.at / HOUR) * HOUR;
    const bucket = [use.keyId, hour, use.endpoint, use.projectId ?? ""].join(SEP);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + use.count);
    let rows = activity.get(use.keyId);
    if (!rows) activity.set(use.keyId, (rows = []));
    rows.push(use);
    if (rows.length > 2 * ACTIVITY_KEEP) rows.splice(0, rows.length - ACTIVITY_KEEP);
  }

  /** Writes everything buffered so far; flushes never overlap. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  /** Stops the timer and writes what is left: call before the store closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    const batch = this.pending;
    if (batch.keys.size === 0) return;
    this.pending = empty();
    try {
      const estimates = await this.deps.store.transaction((tx) => this.apply(tx, batch));
      // Learnt only once the transaction commits (a failed flush is retried from scratch).
      for (const [keyId, estimate] of estimates) this.storedActivity.set(keyId, estimate);
    } catch (error) {
      this.deps.logger.warn({ err: (error as Error).message }, "usage flush failed; will retry");
      this.mergeBack(batch);
    }
  }

  private async apply(tx: Store, batch: Pending): Promise<Map<string, number>> {
    // In id order, so two instances flushing at once lock rows in the same order.
    const keys = [...batch.keys].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [keyId, { count, last }] of keys) await tx.usage.addCalls(keyId, count, last);
    const buckets = [...batch.buckets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const rows = buckets.map(([bucket, count]): UsageBucketRow => {
      const [key_id, hour, endpoint, project_id] = bucket.split(SEP) as [
        string,
        string,
        string,
        string,
      ];
      return { key_id, hour: Number(hour), endpoint, project_id, count };
    });
    for (const chunk of chunks(rows, 200)) await tx.usage.addBuckets(chunk);
    const activity = [...batch.activity.values()].flatMap((uses) =>
      uses.slice(-ACTIVITY_KEEP).map((u): ActivityRow => ({
        key_id: u.keyId,
        at: u.at,
        endpoint: u.endpoint,
        ip: u.ip,
        outcome: u.outcome,
        verified_by: u.verifiedBy ?? null,
        count: u.count ?? 1,
      })),
    );
    for (const chunk of chunks(activity, 500)) await tx.usage.addActivity(chunk);
    const estimates = new Map<string, number>();
    for (const [keyId, uses] of batch.activity) {
      const added = Math.min(uses.length, ACTIVITY_KEEP);
      const stored =
        this.storedActivity.get(keyId) ?? (await tx.usage.countActivity(keyId)) - added;
      let estimate = stored + added;
      if (estimate > ACTIVITY_KEEP) {
        await tx.usage.pruneActivity(keyId, ACTIVITY_KEEP);
        estimate = ACTIVITY_KEEP;
      }
      estimates.set(keyId, estimate);
    }
    return estimates;
  }

  private mergeBack(batch: Pending): void {
    const current = this.pending;
    for (const [keyId, use] of current.keys) {
      const earlier = batch.keys.get(keyId);
      if (!earlier) batch.keys.set(keyId, use);
      else {
        earlier.count += use.count;
        earlier.last = Math.max(earlier.last, use.last);
      }
    }
    for (const [bucket, count] of current.buckets)
      batch.buckets.set(bucket, (batch.buckets.get(bucket) ?? 0) + count);
    for (const [keyId, uses] of current.activity)
      batch.activity.set(
        keyId,
        [...(batch.activity.get(keyId) ?? []), ...uses].slice(-ACTIVITY_KEEP),
      );
    this.pending = batch;
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
