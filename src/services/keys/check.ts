import { actorOf } from "../../core/actor.js";
import type { VerifyRefusal } from "../../core/errors.js";
import { parseKey } from "../../core/key-format.js";
import type { SpendState } from "../../infra/limiter.js";
import type { Settled } from "../../core/settled.js";
import { sha256 } from "../../infra/secrets.js";
import type { UserAccess, Users } from "../accounts/users.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import { keyUniverse, type Creator, type KeyCreators } from "../orgs/access.js";
import { allowsEnvironment } from "../orgs/policy.js";
import type { CachedKey, KeyCache } from "./cache.js";
import { isIpAllowed } from "./ip-allow.js";
import type { KeyMetering, MeterInput, Metered, NamedLimitState } from "./metering.js";

/** A verification's answer: `valid`, or why not (each refusal is a code of the ERRORS table). */
export type VerifyCode = "valid" | VerifyRefusal;

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Epoch milliseconds when the window resets. */
  reset: number;
}

export interface CheckInput {
  rawKey: string;
  ip: string | null;
  endpoint: string;
  /** The project the call is for; a project-bound key refuses any other. */
  projectId?: string | undefined;
  /** Scopes the call needs. */
  scopes?: readonly string[] | undefined;
  /** Whether the call spends the key's per-minute budget. */
  spend: boolean;
  /**
   * Set by `POST /v1/keys/verify`: spend the key's credits and named limits (issue 20) when
   * it has any. API keys calling Latchkey's own API spend only the per-minute limit.
   */
  meter?: MeterInput | undefined;
}

export interface CheckResult {
  code: VerifyCode;
  /** The key, once identified (also for refusals such as `key_revoked`). */
  key: CachedKey | null;
  owner: UserAccess | null;
  /** Effective scopes: the key's grants ∩ its owner's current access. */
  scopes: ReadonlySet<string>;
  ratelimit: RateLimitState | null;
  /** Scopes asked for that the key lacks (for `scope_insufficient`). */
  missing: string[];
  /** Credits left after this call; null when the key has none (or was not metered). */
  credits: number | null;
  /** Named limits after this call; null when none were metered. */
  ratelimits: NamedLimitState[] | null;
}

/** One check's progress through KeyChecker's steps, each of which may wait or go on at once. */
interface Checking {
  key: CachedKey;
  input: CheckInput;
  /** The key's window after this call, once spent (or carried into a re-read). */
  spent: SpendState | null;
  /** Whether `key` was re-read after a version change (at most once per check). */
  reloaded: boolean;
  now: number;
  /** For an organization's key: the member who minted it, as the check found them. */
  creator: Creator | null;
}

/** A key's rate-limit window: its length, and its counter's name in the limiter. */
export const KEY_WINDOW_MS = 60_000;
export const keyWindow = (keyId: string): string => `key:${keyId}`;
const NOTHING: ReadonlySet<string> = new Set();
/** An organization's key no member minted (or whose creator the check does not narrow by). */
const NO_CREATOR: Creator = { role: null, has2fa: false, memo: null };
const REFUSAL_AUDIT_EVERY_MS = 60_000;
const REFUSAL_AUDIT_LIMIT = 10_000;

/**
 * The hot path: what every API-key request and `POST /v1/keys/verify` goes through.
 * Checksum first (garbage never reaches the store), one SHA-256, a cached row, the
 * owner's cached access, an in-memory (or one Redis round trip) rate limit. No writes.
 *
 * With a shared limiter (Redis), each instance also compares the key's change version
 * (bumped by revoke, edit and rotate before they answer) so a stale row on another
 * instance is re-read before it can be used: revocation holds cluster-wide from the
 * moment DELETE answers.
 */
export class KeyChecker {
  private readonly refusalsAudited = new Map<string, number>();
  private readonly audits = new Set<Promise<void>>();

  constructor(
    private readonly deps: Deps,
    private readonly cache: KeyCache,
    private readonly users: Users,
    private readonly audit: AuditLog,
    private readonly metering: KeyMetering,
    private readonly creators: KeyCreators,
  ) {}

  /**
   * Answers in the same turn, with no promise, when everything is in memory (a cached row
   * and owner, the in-memory limiter): the common case on one instance. A promise only
   * when the store or Redis must be asked; each step below continues either way.
   */
  check(input: CheckInput): Settled<CheckResult> {
    if (!parseKey(input.rawKey, this.deps.config.keyBrand)) return refused("key_invalid", null);
    const hash = sha256(input.rawKey);
    const key = this.cache.peek(hash);
    if (key === undefined) return this.loadAndCheck(hash, input);
    if (!key) return refused("key_invalid", null);
    return this.checkKey(key, input, null, false);
  }

  private async loadAndCheck(hash: string, input: CheckInput): Promise<CheckResult> {
    const version = this.deps.limiter.sharesVersions ? await this.deps.limiter.version(hash) : null;
    const key = await this.cache.load(hash, version);
    if (!key) return refused("key_invalid", null);
    return this.checkKey(key, input, null, false);
  }

  private checkKey(
    key: CachedKey,
    input: CheckInput,
    spent: SpendState | null,
    reloaded: boolean,
  ): Settled<CheckResult> {
    const now = this.deps.now();
    if (key.revokedAt !== null && key.revokedAt <= now)
      return this.refuseDead("key_revoked", key, input);
    if (key.expiresAt !== null && key.expiresAt <= now)
      return this.refuseDead("key_expired", key, input);
    if (key.disabledAt !== null)
      return refused(key.leakedAt === null ? "key_disabled" : "key_leaked", key);
    const c: Checking = { key, input, spent, reloaded, now, creator: null };
    // A key re-read after a change reads its owner again too (a role or policy may be why).
    const owner = this.users.access(key.ownerId, reloaded);
    if (!(owner instanceof Promise)) return this.withOwner(c, owner);
    return owner.then((found) => this.withOwner(c, found));
  }

  private withOwner(c: Checking, owner: UserAccess | null): Settled<CheckResult> {
    const { key, input } = c;
    if (!owner || owner.disabled) return refused("key_invalid", key);
    // An organization's key (issue 16): its policy, then the member who minted it.
    if (owner.org !== undefined && c.creator === null) return this.withOrg(c, owner);
    if (key.ipAllow && !isIpAllowed(key.ipAllow, input.ip))
      return refused("ip_not_allowed", key, owner);
    if (!input.spend || c.spent) return this.withSpent(c, owner);
    const spending = this.deps.limiter.spend(
      (key.window ??= keyWindow(key.id)),
      KEY_WINDOW_MS,
      key.hash,
    );
    if (!(spending instanceof Promise)) return this.withSpent(c, owner, spending);
    return spending.then((state) => this.withSpent(c, owner, state));
  }

  private withOrg(c: Checking, owner: UserAccess): Settled<CheckResult> {
    const { key, input } = c;
    const { policy } = owner.org!;
    if (!allowsEnvironment(policy, key.environment)) return refused("policy_violation", key, owner);
    if (policy.ipAllow !== null && !isIpAllowed(policy.ipAllow, input.ip))
      return refused("ip_not_allowed", key, owner);
    if (key.createdBy === null) {
      c.creator = NO_CREATOR;
      return this.withOwner(c, owner);
    }
    const creator = this.creators.get(owner.id, key.createdBy, c.reloaded);
    if (!(creator instanceof Promise)) {
      c.creator = creator;
      return this.withOwner(c, owner);
    }
    return creator.then((found) => {
      c.creator = found;
      return this.withOwner(c, owner);
    });
  }

  private withSpent(
    c: Checking,
    owner: UserAccess,
    spent: SpendState | null = c.spent,
  ): Settled<CheckResult> {
    c.spent = spent;
    if (c.reloaded || c.input.spend || !this.deps.limiter.sharesVersions)
      return this.withVersion(c, owner, spent?.version ?? null);
    return this.deps.limiter
      .version(c.key.hash)
      .then((version) => this.withVersion(c, owner, version));
  }

  private withVersion(
    c: Checking,
    owner: UserAccess,
    version: string | null,
  ): Settled<CheckResult> {
    const { key, input, spent, now } = c;
    if (version !== null && version !== key.version && !c.reloaded) {
      // Changed since this instance read it: read it again (the counter was read first).
      return this.cache
        .load(key.hash, version, { shared: false })
        .then((fresh) =>
          fresh ? this.checkKey(fresh, input, spent, true) : refused("key_invalid", null),
        );
    }
    const limit = this.deps.config.rateLimits[key.environment];
    const ratelimit = spent
      ? { limit, remaining: Math.max(0, limit - spent.count), reset: now + spent.resetMs }
      : null;
    if (spent && spent.count > limit) return { ...refused("rate_limited", key, owner), ratelimit };
    if (
      input.projectId !== undefined &&
      key.projectId !== null &&
      key.projectId !== input.projectId
    )
      return { ...refused("project_mismatch", key, owner), ratelimit };
    const scopes = this.effective(key, owner, c.creator);
    const missing = (input.scopes ?? []).filter((scope) => !scopes.has(scope));
    const code = missing.length > 0 ? "scope_insufficient" : "valid";
    // Credits and named limits: one null check for a key without them.
    if (key.budget !== null && input.meter !== undefined && code === "valid") {
      const metered = this.metering.spend(key, key.budget, input.meter, now);
      if (!(metered instanceof Promise)) return withMeter(metered, key, owner, scopes, ratelimit);
      return metered.then((settled) => withMeter(settled, key, owner, scopes, ratelimit));
    }
    return { code, key, owner, scopes, ratelimit, missing, credits: null, ratelimits: null };
  }

  private effective(
    key: CachedKey,
    owner: UserAccess,
    creator: Creator | null,
  ): ReadonlySet<string> {
    const universe = creator === null ? owner.access : keyUniverse(owner, creator);
    if (key.memo?.access === universe) return key.memo.scopes;
    const scopes = new Set(this.deps.catalogue.effective(key.grants, universe));
    key.memo = { access: universe, scopes };
    return scopes;
  }

  /**
   * A refused use of a revoked or expired key goes to the audit log, at most once a minute
   * per key, so that a leaked key hammering the API cannot flood the log.
   */
  private async refuseDead(
    code: "key_revoked" | "key_expired",
    key: CachedKey,
    input: CheckInput,
  ): Promise<CheckResult> {
    const now = this.deps.now();
    const last = this.refusalsAudited.get(key.id);
    if (last === undefined || now - last >= REFUSAL_AUDIT_EVERY_MS) {
      this.refusalsAudited.delete(key.id);
      if (this.refusalsAudited.size >= REFUSAL_AUDIT_LIMIT)
        this.refusalsAudited.delete(this.refusalsAudited.keys().next().value!);
      this.refusalsAudited.set(key.id, now);
      const write = this.audit
        .record({
          event: "key_refused",
          userId: key.ownerId,
          actor: actorOf({ keyId: key.id }),
          ip: input.ip,
          details: { key_id: key.id, reason: code, endpoint: input.endpoint },
        })
        .catch((error: unknown) =>
          this.deps.logger.warn({ err: (error as Error).message }, "audit write failed"),
        )
        .finally(() => this.audits.delete(write));
      this.audits.add(write);
      // Awaited (it is rare: once a minute per key) so the event is in the log when we answer.
      await write;
    }
    return refused(code, key);
  }

  /** Waits for audit writes still in flight (before the store closes). */
  async drain(): Promise<void> {
    await Promise.all([...this.audits]);
  }
}

function refused(code: VerifyCode, key: CachedKey | null, owner: UserAccess | null = null) {
  const result: CheckResult = {
    code,
    key,
    owner,
    scopes: NOTHING,
    ratelimit: null,
    missing: [],
    credits: null,
    ratelimits: null,
  };
  return result;
}

function withMeter(
  metered: Metered,
  key: CachedKey,
  owner: UserAccess,
  scopes: ReadonlySet<string>,
  ratelimit: RateLimitState | null,
): CheckResult {
  const { outcome, remaining: credits, ratelimits } = metered;
  if (outcome !== "ok") return { ...refused(outcome, key, owner), ratelimit, credits, ratelimits };
  return { code: "valid", key, owner, scopes, ratelimit, missing: [], credits, ratelimits };
}
