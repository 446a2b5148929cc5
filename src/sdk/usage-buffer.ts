import type { z } from "zod";
import type { KeyUsageEntry } from "../api/keys.js";

export type UsageEntry = z.input<typeof KeyUsageEntry>;

/** How the verifier answered a hit from its cache. */
export type HitOutcome = "valid" | "scope_insufficient" | "project_mismatch";

export interface Hit {
  keyId: string;
  endpoint?: string | undefined;
  projectId?: string | undefined;
  ip?: string | undefined;
  outcome: HitOutcome;
  /** Epoch milliseconds. */
  at: number;
}

interface Bucket {
  keyId: string;
  endpoint: string | undefined;
  projectId: string | undefined;
  ip: string | undefined;
  outcome: HitOutcome;
  count: number;
  first: number;
  last: number;
}

const SEP = "\u0000";
/** The bounds of `POST /v1/keys/usage` entries (src/api/keys.ts). */
const MAX_ENDPOINT = 200;
const MAX_PROJECT = 100;
const MAX_COUNT = 1_000_000;

/**
 * Cached hits waiting to be reported, aggregated per (key, endpoint, project, address,
 * outcome). Bounded: past `maxBuckets` distinct aggregates, a new one is folded into its
 * key's aggregate without endpoint, project or address (the count stays exact); past a
 * tenth more, hits are dropped and counted in `dropped`.
 */
export class HitBuffer {
  private buckets = new Map<string, Bucket>();
  /** Hits that could not be kept (the buffer was full): lost, and said so. */
  dropped = 0;

  constructor(private readonly maxBuckets = 10_000) {
    if (!Number.isInteger(maxBuckets) || maxBuckets < 1)
      throw new TypeError("maxBuckets must be a whole number ≥ 1");
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Counts `count` hits; false when they were dropped. */
  add(hit: Hit, count = 1): boolean {
    return this.put(
      {
        keyId: hit.keyId,
        endpoint: bounded(hit.endpoint?.trim(), MAX_ENDPOINT),
        projectId: bounded(hit.projectId, MAX_PROJECT, true),
        ip: hit.ip || undefined,
        outcome: hit.outcome,
        count,
        first: hit.at,
        last: hit.at,
      },
      true,
    );
  }

  /** Removes and returns up to `max` aggregates, as `POST /v1/keys/usage` entries. */
  take(max: number): UsageEntry[] {
    const out: UsageEntry[] = [];
    for (const [id, b] of this.buckets) {
      const pieces = Math.ceil(b.count / MAX_COUNT);
      if (out.length > 0 && out.length + pieces > max) break;
      this.buckets.delete(id);
      // An aggregate too large for one entry is sent as several.
      for (let left = b.count; left > 0; left -= MAX_COUNT)
        out.push({
          key_id: b.keyId,
          count: Math.min(left, MAX_COUNT),
          endpoint: b.endpoint,
          project_id: b.projectId,
          ip: b.ip,
          outcome: b.outcome,
          first_at: new Date(b.first).toISOString(),
          last_at: new Date(b.last).toISOString(),
        });
    }
    return out;
  }

  /** Puts back entries that could not be sent, to go with the next report. */
  restore(entries: readonly UsageEntry[]): void {
    for (const e of entries) {
      const first = e.first_at ? Date.parse(e.first_at) : Date.now();
      this.put(
        {
          keyId: e.key_id,
          endpoint: e.endpoint,
          projectId: e.project_id,
          ip: e.ip,
          outcome: e.outcome ?? "valid",
          count: e.count,
          first,
          last: e.last_at ? Date.parse(e.last_at) : first,
        },
        true,
      );
    }
  }

  private put(b: Bucket, fold: boolean): boolean {
    const id = [b.keyId, b.endpoint, b.projectId, b.ip, b.outcome].join(SEP);
    const found = this.buckets.get(id);
    if (found) {
      found.count += b.count;
      found.first = Math.min(found.first, b.first);
      found.last = Math.max(found.last, b.last);
      return true;
    }
    if (this.buckets.size < this.maxBuckets) {
      this.buckets.set(id, b);
      return true;
    }
    const coarse = b.endpoint === undefined && b.projectId === undefined && b.ip === undefined;
    if (fold && !coarse)
      return this.put({ ...b, endpoint: undefined, projectId: undefined, ip: undefined }, false);
    if (this.buckets.size < this.maxBuckets + Math.ceil(this.maxBuckets / 10)) {
      this.buckets.set(id, b);
      return true;
    }
    this.dropped += b.count;
    return false;
  }
}

function bounded(value: string | undefined, max: number, whole = false): string | undefined {
  if (!value) return undefined;
  if (value.length <= max) return value;
  // A project id cut short would name another project: leave it out instead.
  return whole ? undefined : value.slice(0, max);
}
