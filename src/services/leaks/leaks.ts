/**
 * Leak reports (SPEC §11, `POST /v1/keys/leaks`): anyone who saw a key in public tells us,
 * and a real, active key is revoked at once on every instance, its owner told through the
 * audit log. What a reporter learns depends on who they are: a caller with `keys:report`
 * gets each key's outcome; anyone else only that the report arrived — the same answer, in
 * about the same time, for real, unknown and already revoked keys.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { LatchkeyError } from "../../core/errors.js";
import { displayPrefix, parseKey } from "../../core/key-format.js";
import { sha256 } from "../../core/digest.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import type { ApiKeys } from "../keys/api-keys.js";
import type { ApiKey } from "../keys/model.js";

export type LeakOutcome =
  | "revoked"
  | "already_revoked"
  | "quarantined"
  | "already_quarantined"
  | "unknown"
  | "invalid_checksum";

/** What a leak report does to a real, active key of this owner. */
export type LeakPolicy = "revoke" | "quarantine";

export interface LeakCandidate {
  key: string;
  url?: string | undefined;
  source?: string | undefined;
}

export interface LeakResult {
  index: number;
  /** The candidate's first 12 characters: the key itself is never echoed. */
  prefix: string;
  outcome: LeakOutcome;
}

export interface Reporter {
  /** `session:<id>` or `key:<id>` of a signed-in reporter; null for an anonymous one. */
  actor: string | null;
  ip: string | null;
  /** Holds `keys:report`: learns each key's outcome, and is not held to the per-address limit. */
  seesOutcomes: boolean;
}

/**
 * An answer to a reporter without `keys:report` takes at least this long (plus a little per
 * candidate), so the time it takes does not tell a revoked key from an unknown one.
 */
const ANSWER_FLOOR_MS = 200;
const ANSWER_FLOOR_PER_CANDIDATE_MS = 5;
const WINDOW_MS = 60_000;

interface Distinct {
  hash: string;
  /** The first candidate with this key: its url and source are the ones told to the owner. */
  candidate: LeakCandidate;
  indexes: number[];
}

export class LeakReports {
  constructor(
    private readonly deps: Deps,
    private readonly apiKeys: ApiKeys,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Every reporter without `keys:report` spends its address's budget (shared through Redis
   * when configured); past it, 429 `rate_limited` with `retry_after` and Retry-After.
   */
  async admit(reporter: Reporter): Promise<void> {
    if (reporter.seesOutcomes) return;
    const { count, resetMs } = await this.deps.limiter.hit(
      `leaks:ip:${reporter.ip ?? "unknown"}`,
      WINDOW_MS,
    );
    if (count > this.deps.config.leakReportsPerMinute) {
      const retryAfter = Math.max(1, Math.ceil(resetMs / 1000));
      throw new LatchkeyError(
        "rate_limited",
        "too many leak reports from this address",
        { retry_after: retryAfter },
        retryAfter,
      );
    }
  }

  /** The outcome of each candidate, in order. Candidates whose checksum fails touch no table. */
  async report(candidates: readonly LeakCandidate[], reporter: Reporter): Promise<LeakResult[]> {
    const started = performance.now();
    const results = candidates.map((c, index): LeakResult => {
      const outcome = parseKey(c.key) ? "unknown" : "invalid_checksum";
      return { index, prefix: displayPrefix(c.key), outcome };
    });
    for (const distinct of this.ours(candidates)) {
      const row = await this.deps.store.keys.byHash(distinct.hash);
      if (!row) continue;
      const outcome = await this.handle(row, distinct.candidate, reporter);
      for (const index of distinct.indexes) results[index]!.outcome = outcome;
    }
    if (!reporter.seesOutcomes) {
      const floor = ANSWER_FLOOR_MS + ANSWER_FLOOR_PER_CANDIDATE_MS * candidates.length;
      const left = floor - (performance.now() - started);
      if (left > 0) await sleep(left);
    }
    return results;
  }

  /** The candidates that may be keys of this install (its brand, a valid checksum), once each. */
  private ours(candidates: readonly LeakCandidate[]): Distinct[] {
    const brand = this.deps.config.keyBrand;
    const byHash = new Map<string, Distinct>();
    candidates.forEach((candidate, index) => {
      if (!parseKey(candidate.key, brand)) return;
      const hash = sha256(candidate.key);
      const seen = byHash.get(hash);
      if (seen) seen.indexes.push(index);
      else byHash.set(hash, { hash, candidate, indexes: [index] });
    });
    return [...byHash.values()];
  }

  /** Revokes a real key (on every instance) and tells its owner; an already revoked one too. */
  private async handle(
    row: ApiKey,
    candidate: LeakCandidate,
    reporter: Reporter,
  ): Promise<LeakOutcome> {
    const by = { actor: reporter.actor, ip: reporter.ip };
    const source = (candidate.url ?? candidate.source ?? null)?.slice(0, 500) ?? null;
    const outcome = await this.contain(row, by, source);
    // The owner is told through the audit log and, in the same transaction, the `key.leaked`
    // webhook (AuditLog publishes it), with these same details.
    await this.audit.record({
      event: "key_leaked",
      userId: row.owner_id,
      ...by,
      details: {
        key_id: row.id,
        name: row.name,
        prefix: row.prefix,
        url: candidate.url ?? null,
        source: candidate.source ?? null,
        outcome,
      },
    });
    if (outcome === "revoked" || outcome === "quarantined")
      this.deps.logger.warn(
        { key_id: row.id, owner_id: row.owner_id, reporter: reporter.actor ?? "anonymous" },
        `leaked API key ${outcome}`,
      );
    return outcome;
  }

  /** Revokes the key, or quarantines it when its owner's policy says so. */
  private async contain(
    row: ApiKey,
    by: { actor: string | null; ip: string | null },
    source: string | null,
  ): Promise<LeakOutcome> {
    if (row.revoked_at !== null) return "already_revoked";
    const owner = await this.deps.store.users.byId(row.owner_id);
    if (owner?.leak_policy === "quarantine")
      return (await this.apiKeys.quarantineLeaked(row, source))
        ? "quarantined"
        : "already_quarantined";
    return (await this.apiKeys.revokeLeaked(row, by, source)) ? "revoked" : "already_revoked";
  }

  /** The owner's choice of what a leak report does to their keys. */
  async policy(userId: string): Promise<LeakPolicy> {
    const row = await this.deps.store.users.byId(userId);
    return row?.leak_policy === "quarantine" ? "quarantine" : "revoke";
  }

  async setPolicy(
    who: { userId: string; actor: string; ip: string | null },
    policy: LeakPolicy,
  ): Promise<LeakPolicy> {
    const before = await this.policy(who.userId);
    if (before === policy) return policy;
    await this.deps.store.users.update(who.userId, {
      leak_policy: policy,
      updated_at: this.deps.now(),
    });
    await this.audit.record({
      event: "leak_policy_set",
      userId: who.userId,
      actor: who.actor,
      ip: who.ip,
      details: { policy, previous: before },
    });
    return policy;
  }
}
