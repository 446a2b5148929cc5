import type { ActivityRow, UsageBatch, UsageBucketRow, UsageCalls } from "../../store/port.js";
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

/** Newest activity rows kept per key in the database. */
/** Keys whose stored activity count a buffer remembers at most (about 100 B each). */
export const STORED_ACTIVITY_LIMIT = 100_000;

export const ACTIVITY_KEEP = 1000;
const HOUR = 3_600_000;
const SEP = "\u0000";

/** A key's calls in one flush. */
interface KeyCalls {
  count: number;
  last: number;
  sampled: number;
  /** The bucket its last use went into: most uses of a key repeat it, and skip the lookup. */
  bucket: Bucket | null;
}

/** Calls of one key in one hour, to one endpoint, for one project. */
interface Bucket {
  keyId: string;
  hour: number;
  endpoint: string;
  projectId: string | null;
  count: number;
}

interface Pending {
  keys: Map<string, KeyCalls>;
  /** By key, hour, endpoint and project joined with SEP. */
  buckets: Map<string, Bucket>;
  /** Per key, the newest uses to write as activity rows (at most `activitySample`). */
  activity: Map<string, KeyUse[]>;
  /** Activity rows held, all keys together (at most the flush's budget, or one per key). */
  rows: number;
}

function empty(): Pending {
  return { keys: new Map(), buckets: new Map(), activity: new Map(), rows: 0 };
}

/** Calls that activity rows stand for. */
function callsIn(uses: readonly KeyUse[]): number {
  let calls = 0;
  for (const use of uses) calls += use.count ?? 1;
  return calls;
}

const byId = <T>([a]: [string, T], [b]: [string, T]) => (a < b ? -1 : a > b ? 1 : 0);

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
  /** Keys remembered there at most; the least recently flushed is forgotten (one more prune). */
  private readonly storedActivityLimit: number;

  private readonly sample: number;
  /** Activity rows one flush writes at most, all keys together (but one per key always). */
  private readonly budget: number;

  constructor(
    private readonly deps: Deps,
    options: { storedActivityLimit?: number } = {},
  ) {
    this.storedActivityLimit = options.storedActivityLimit ?? STORED_ACTIVITY_LIMIT;
    this.sample = Math.min(deps.config.usageActivitySample, ACTIVITY_KEEP);
    this.budget = Math.max(
      1,
      Math.round((deps.config.usageActivityPerSecond * deps.config.usageFlushMs) / 1000),
    );
    this.timer = setInterval(() => void this.flush(), deps.config.usageFlushMs);
    this.timer.unref();
  }

  /** Counts one call, or `use.count` calls at once (cached hits a verifier reported). */
  record(use: KeyUse): void {
    const n = use.count ?? 1;
    const { keys, buckets, activity } = this.pending;
    let entry = keys.get(use.keyId);
    if (entry) {
      entry.count += n;
      if (use.at > entry.last) entry.last = use.at;
    } else keys.set(use.keyId, (entry = { count: n, last: use.at, sampled: 0, bucket: null }));
    const hour = Math.floor(use.at / HOUR) * HOUR;
    let bucket = entry.bucket;
    if (
      bucket === null ||
      bucket.hour !== hour ||
      bucket.endpoint !== use.endpoint ||
      bucket.projectId !== use.projectId
    ) {
      const name = `${use.keyId}${SEP}${hour}${SEP}${use.endpoint}${SEP}${use.projectId ?? ""}`;
      bucket = buckets.get(name) ?? null;
      if (bucket === null) {
        const { keyId, endpoint, projectId } = use;
        buckets.set(name, (bucket = { keyId, hour, endpoint, projectId, count: 0 }));
      }
      entry.bucket = bucket;
    }
    bucket.count += n;
    // Under a flood only the newest uses become activity rows: at most `sample` per key and
    // `budget` in all per flush, but each key's newest use always. The uses left out are
    // counted (exactly, like every use) as sampled away. Held rows never grow past that, so
    // a flood costs neither memory nor a long flush.
    let rows = activity.get(use.keyId);
    if (!rows) activity.set(use.keyId, (rows = []));
    if (rows.length === 0 || (rows.length < this.sample && this.pending.rows < this.budget)) {
      rows.push(use);
      this.pending.rows += 1;
    } else {
      entry.sampled += rows.shift()!.count ?? 1;
      rows.push(use);
    }
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
      const written = this.toBatch(batch);
      // One port call: on a file-backed SQLite database it runs in a worker thread.
      const stored = await this.deps.store.usage.flush(written);
      // Learnt only once the flush commits (a failed flush is retried from scratch).
      for (const [keyId, uses] of batch.activity) {
        const known = stored.get(keyId) ?? (this.storedActivity.get(keyId) ?? 0) + uses.length;
        // Re-inserted, so the map's order is least recently flushed first.
        this.storedActivity.delete(keyId);
        if (this.storedActivity.size >= this.storedActivityLimit)
          this.storedActivity.delete(this.storedActivity.keys().next().value!);
        this.storedActivity.set(keyId, known);
      }
    } catch (error) {
      this.deps.logger.warn({ err: (error as Error).message }, "usage flush failed; will retry");
      this.mergeBack(batch);
    }
  }

  private toBatch(batch: Pending): UsageBatch {
    // In id order, so two instances flushing at once lock rows in the same order.
    const calls = [...batch.keys]
      .sort(byId)
      .map(([key_id, { count, last, sampled }]): UsageCalls => ({ key_id, count, last, sampled }));
    const buckets = [...batch.buckets].sort(byId).map(([, bucket]): UsageBucketRow => ({
      key_id: bucket.keyId,
      hour: bucket.hour,
      endpoint: bucket.endpoint,
      project_id: bucket.projectId ?? "",
      count: bucket.count,
    }));
    const activity = [...batch.activity.values()].flatMap((uses) =>
      uses.map((u): ActivityRow => ({
        key_id: u.keyId,
        at: u.at,
        endpoint: u.endpoint,
        ip: u.ip,
        outcome: u.outcome,
        verified_by: u.verifiedBy ?? null,
        count: u.count ?? 1,
      })),
    );
    // Pruning (a query per key) only for keys that are unknown or may be over ACTIVITY_KEEP.
    const prune = [...batch.activity]
      .filter(([keyId, uses]) => {
        const stored = this.storedActivity.get(keyId);
        return stored === undefined || stored + uses.length > ACTIVITY_KEEP;
      })
      .map(([keyId]) => keyId);
    return { calls, buckets, activity, prune, keep: ACTIVITY_KEEP };
  }

  private mergeBack(batch: Pending): void {
    const current = this.pending;
    // An entry's `bucket` stays good: a key's buckets are adopted whole with its entry, or
    // merged into the buckets that the kept entry already points into.
    for (const [keyId, use] of current.keys) {
      const earlier = batch.keys.get(keyId);
      if (!earlier) batch.keys.set(keyId, use);
      else {
        earlier.count += use.count;
        earlier.last = Math.max(earlier.last, use.last);
        earlier.sampled += use.sampled;
      }
    }
    for (const [name, bucket] of current.buckets) {
      const earlier = batch.buckets.get(name);
      if (earlier) earlier.count += bucket.count;
      else batch.buckets.set(name, bucket);
    }
    for (const [keyId, uses] of current.activity) {
      const all = [...(batch.activity.get(keyId) ?? []), ...uses];
      if (all.length > this.sample)
        batch.keys.get(keyId)!.sampled += callsIn(all.slice(0, -this.sample));
      batch.activity.set(keyId, all.slice(-this.sample));
    }
    batch.rows = 0;
    for (const uses of batch.activity.values()) batch.rows += uses.length;
    this.pending = batch;
  }
}
