import type { KeyRow } from "../../store/port.js";
import type { Deps } from "../deps.js";
import type { KeyLeases } from "../keys/lease.js";
import type { UsageBuffer } from "./usage.js";

/** One aggregate of cached hits a verifier reports (`POST /v1/keys/usage`), as on the wire. */
export interface ReportedUse {
  key_id: string;
  count: number;
  endpoint?: string | undefined;
  project_id?: string | undefined;
  ip?: string | undefined;
  /** How the verifier answered these hits from its cache; `valid` when absent. */
  outcome?: string | undefined;
  first_at?: string | undefined;
  /** ISO time of the newest hit; now when absent. */
  last_at?: string | undefined;
}

export interface ReportOutcome {
  accepted: number;
  ignored: number;
}

const UNSPECIFIED = "unspecified";
/** Hits older than this are counted in this hour's bucket rather than a day-old one. */
const MAX_AGE_MS = 24 * 3_600_000;

/**
 * Cached hits reported by the platform's verifiers, counted like the calls Latchkey answers
 * itself (usage count, last use, hourly buckets, activity — one row per aggregate, carrying
 * its count). Only the keys' own hits count: an unknown key, a revoked one, one expired
 * before the hits, or hits naming another project than the key's are ignored, not errors.
 * Reported uses were spent from leases (keys/lease.ts), which may then be granted again.
 */
export class UsageReports {
  constructor(
    private readonly deps: Deps,
    private readonly usage: UsageBuffer,
    private readonly leases: KeyLeases,
  ) {}

  async report(uses: readonly ReportedUse[], reportedBy: string): Promise<ReportOutcome> {
    const ids = [...new Set(uses.map((use) => use.key_id))];
    const rows = new Map((await this.deps.store.keys.byIds(ids)).map((row) => [row.id, row]));
    const now = this.deps.now();
    const spent = new Map<string, { count: number; firstAt: number }[]>();
    let accepted = 0;
    for (const use of uses) {
      const row = rows.get(use.key_id);
      const at = clamp(use.last_at === undefined ? now : Date.parse(use.last_at), now);
      if (!row || !isOwnHit(row, use, at)) continue;
      accepted += 1;
      this.usage.record({
        keyId: row.id,
        at,
        endpoint: use.endpoint ?? UNSPECIFIED,
        projectId: use.project_id ?? row.project_id,
        ip: use.ip ?? null,
        outcome: use.outcome ?? "valid",
        verifiedBy: reportedBy,
        count: use.count,
      });
      const firstAt = use.first_at === undefined ? at : Date.parse(use.first_at);
      let hits = spent.get(row.id);
      if (!hits) spent.set(row.id, (hits = []));
      hits.push({ count: use.count, firstAt });
    }
    await Promise.all([...spent].map(([keyId, hits]) => this.leases.settle(keyId, hits)));
    return { accepted, ignored: uses.length - accepted };
  }
}

function clamp(at: number, now: number): number {
  if (!Number.isFinite(at) || at > now) return now;
  return Math.max(at, now - MAX_AGE_MS);
}

function isOwnHit(row: KeyRow, use: ReportedUse, at: number): boolean {
  if (row.revoked_at !== null) return false;
  if (row.expires_at !== null && row.expires_at <= at) return false;
  // A project-bound key is valid only for its project: a hit for another one is not its own
  // (unless the verifier refused it for exactly that).
  const otherProject =
    row.project_id !== null && use.project_id !== undefined && use.project_id !== row.project_id;
  return !otherProject || use.outcome === "project_mismatch";
}
