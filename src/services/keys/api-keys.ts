import { formatDuration, parseDuration } from "../../core/durations.js";
import { LatchkeyError } from "../../core/errors.js";
import type { Environment } from "../../core/key-format.js";
import { isoOrNull, keyStatus } from "../../core/key-status.js";
import { ADMIN_SCOPE } from "../../core/scopes.js";
import { isPrivilegedKey } from "../../core/step-up.js";
import { roleCan, type OrgRole } from "../../core/org-roles.js";
import type { KeyPatch, Store } from "../../store/port.js";
import type { UserAccess } from "../accounts/users.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import { requireStepUp } from "../step-up.js";
import type { Projects } from "../projects/projects.js";
import { allowsEnvironment, orgAccessOf, type OrgPolicy } from "../orgs/policy.js";
import { isRangeWithin } from "./ip-allow.js";
import type { ApiKey, CreatedKey, KeyAt, NamedLimitInput, NewKeyInput, Refill } from "./model.js";
import { planLimit, planState } from "./plan-limits.js";
import { badField, compileIpAllow, expiryOf, newKeyRow } from "./rows.js";
import { creditColumns, limitsChange } from "./limits.js";
import type { KeyMetering } from "./metering.js";

/** Who is acting: the signed-in user or one of their keys (with that key's effective scopes). */
export interface Caller {
  user: UserAccess;
  /** The caller's effective scopes: a session's full access, or a key's narrowed set. */
  scopes: ReadonlySet<string>;
  /** Set when the caller is an API key. */
  keyId: string | null;
  /** A project-bound key can only create keys for its own project. */
  projectId: string | null;
  actor: string;
  ip: string | null;
  /**
   * The session's auth time (epoch ms), for step-up: creating or rotating a privileged key
   * (live, with write or admin scopes) needs it recent. Absent: treated as not recent.
   */
  authTime?: number | undefined;
  /**
   * Set when a member acts in an organization (issue 16): `user` is then the organization's
   * account, `scopes` the member's share of it, and this says who and in what role.
   */
  member?: { userId: string; role: OrgRole } | undefined;
}

const notFound = () => new LatchkeyError("not_found", "API key not found");
const PERSONAL_KEY_IN_ORG = () =>
  new LatchkeyError(
    "forbidden",
    "a personal key only reads in an organization: sign in, or use one of the organization's keys",
  );
const CANNOT_ROTATE = {
  revoked: "a revoked key cannot be rotated",
  expired: "an expired key cannot be rotated",
  disabled: "a disabled key cannot be rotated; enable it first",
} as const;

/** The lifecycle of API keys: create, edit, revoke, rotate. Verification is in key-check.ts. */
export class ApiKeys {
  /** How a person acts in an organization whose key they name (services/orgs, set once). */
  private inOrg: OrgCallerOf | null = null;

  constructor(
    private readonly deps: Deps,
    private readonly projects: Projects,
    private readonly audit: AuditLog,
    private readonly metering: KeyMetering,
  ) {}

  /** Set by createServices: lets a member reach an organization's key by its id. */
  actInOrgs(inOrg: OrgCallerOf): void {
    this.inOrg = inOrg;
  }

  async create(caller: Caller, input: NewKeyInput): Promise<CreatedKey> {
    if (caller.member !== undefined && caller.keyId !== null) throw PERSONAL_KEY_IN_ORG();
    this.checkVerified(caller);
    const policy = caller.user.org?.policy ?? null;
    // An organization's policy speaks first, so its refusal names the policy, not the role.
    if (policy) checkPolicyScopes(this.deps, policy, this.known(input.scopes));
    const grants = this.checkGrants(caller, input.scopes);
    const now = this.deps.now();
    const parent = caller.keyId === null ? null : await this.ownRow(caller, caller.keyId);
    const environment: Environment =
      input.environment ?? (parent?.environment === "test" ? "test" : "live");
    if (isPrivilegedKey(this.deps.catalogue, environment, grants))
      requireStepUp(this.deps, caller, "creating a live key with write or admin scopes");
    let expiresAt = expiryOf(input, now);
    if (policy) checkPolicyKey(policy, { environment, expiresAt, now });
    let ipAllow = input.ip_allow ? compileIpAllow(input.ip_allow) : null;
    if (parent) {
      const field = input.expires_at !== undefined ? "expires_at" : "expires_in";
      ({ expiresAt, ipAllow } = withinParent(
        parent,
        { environment, expiresAt, ipAllow },
        { expiry: "refuse", field },
      ));
    }
    const projectId = input.project_id ?? caller.projectId;
    if (caller.projectId !== null && projectId !== caller.projectId)
      throw new LatchkeyError("project_mismatch", "this key may only create keys for its project");
    if (projectId !== null && !(await this.projects.isOwnedBy(projectId, caller.user.id)))
      throw new LatchkeyError("not_found", "project not found");
    const { key, row } = newKeyRow(this.deps.random, {
      ownerId: caller.user.id,
      name: input.name,
      environment,
      grants,
      projectId,
      ipAllow,
      expiresAt,
      now,
      brand: this.deps.config.keyBrand,
      rotatedFrom: null,
      parentKeyId: parent?.id ?? null,
      description: input.description || null,
      meta: input.meta === undefined ? null : JSON.stringify(input.meta),
      limits: creditColumns(input, now),
      // An organization's key remembers the member who minted it (a key minting: its creator).
      createdBy: caller.member?.userId ?? parent?.created_by ?? null,
    });
    await this.deps.store.transaction(async (tx) => {
      const { limit, counted } = await planState(tx, caller.user.id, now);
      if (limit !== null && counted([row]) > limit) throw planLimit(limit);
      await tx.keys.insert(row);
    });
    // Clears a remembered "unknown" for this hash on every instance.
    await this.deps.bus.publish({
      type: "key_changed",
      keyId: row.id,
      keyHash: row.key_hash,
      revoked: false,
    });
    await this.audit.record({
      event: "key_created",
      userId: caller.user.id,
      actor: caller.actor,
      ip: caller.ip,
      details: {
        key_id: row.id,
        name: row.name,
        prefix: row.prefix,
        environment: row.environment,
        scopes: grants,
        project_id: projectId,
        expires_at: isoOrNull(expiresAt),
        ...(parent ? { parent_key_id: parent.id } : {}),
        ...(row.created_by ? { created_by: row.created_by } : {}),
        ...(row.credits_remaining !== null
          ? { remaining: row.credits_remaining, refill: input.refill ?? null }
          : {}),
        ...(input.ratelimits ? { ratelimits: input.ratelimits } : {}),
      },
    });
    return { row, at: now, key };
  }

  /** LATCHKEY_REQUIRE_VERIFIED_EMAIL: minting (create, rotate) needs a verified address. */
  private checkVerified(caller: Caller): void {
    if (this.deps.config.requireVerifiedEmail && !caller.user.emailVerified)
      throw new LatchkeyError(
        "email_unverified",
        "verify your email address before creating API keys (see the mail sent at signup)",
      );
  }

  async edit(
    caller: Caller,
    id: string,
    patch: {
      name?: string | undefined;
      scopes?: string[] | undefined;
      description?: string | undefined;
      meta?: Record<string, unknown> | null | undefined;
      enabled?: boolean | undefined;
      expires_in?: string | undefined;
      expires_at?: string | undefined;
      ip_allow?: string[] | null | undefined;
      remaining?: number | null | undefined;
      refill?: Refill | null | undefined;
      ratelimits?: NamedLimitInput[] | null | undefined;
    },
  ): Promise<KeyAt> {
    const { row, caller: acting } = await this.resolve(caller, id, true);
    caller = acting;
    const now = this.deps.now();
    const values: KeyPatch = {};
    const changes: Record<string, unknown> = {};
    if (patch.name !== undefined && patch.name !== row.name) {
      values.name = changes.name = patch.name;
    }
    if (patch.scopes !== undefined) {
      const next = this.known(patch.scopes);
      const current = JSON.parse(row.scopes) as string[];
      if (!this.deps.catalogue.isNarrowing(current, next))
        throw new LatchkeyError(
          "scope_expansion_not_allowed",
          "a key's scopes can only be narrowed; create a new key for more",
        );
      values.scopes = JSON.stringify(next);
      changes.scopes = next;
    }
    if (patch.description !== undefined && (patch.description || null) !== row.description) {
      values.description = patch.description || null;
      changes.description = values.description;
    }
    if (patch.meta !== undefined) {
      const next = patch.meta === null ? null : JSON.stringify(patch.meta);
      // Only that it changed goes into the audit log: meta is the owner's data, not ours.
      if (next !== row.meta) {
        values.meta = next;
        changes.meta_changed = true;
      }
    }
    if (patch.expires_in !== undefined || patch.expires_at !== undefined) {
      const field = patch.expires_at !== undefined ? "expires_at" : "expires_in";
      const next = expiryOf(patch, now);
      if (next === null || (row.expires_at !== null && next > row.expires_at))
        throw badField(
          field,
          "expiry can only be shortened" +
            (row.expires_at === null ? "" : ` (it ends ${isoOrNull(row.expires_at)})`),
        );
      if (next !== row.expires_at) {
        values.expires_at = next;
        changes.expires_at = isoOrNull(next);
      }
    }
    if (patch.ip_allow !== undefined) {
      const next = await this.allowlistFor(caller, row, patch.ip_allow);
      const text = next === null ? null : JSON.stringify(next);
      if (text !== row.ip_allow) {
        values.ip_allow = text;
        changes.ip_allow = next;
      }
    }
    if (
      patch.remaining !== undefined ||
      patch.refill !== undefined ||
      patch.ratelimits !== undefined
    ) {
      const live = await this.metering.balance(row);
      Object.assign(changes, limitsChange(row, patch, live, now, values));
    }
    // Disabling pauses the key alone (not the keys it minted): revoke for that.
    let toggled: "key_disabled" | "key_enabled" | null = null;
    if (patch.enabled === false && row.disabled_at === null) {
      values.disabled_at = now;
      toggled = "key_disabled";
    } else if (patch.enabled === true && row.disabled_at !== null) {
      values.disabled_at = null;
      toggled = "key_enabled";
      // Releasing a quarantined key: its owner says the report was wrong, or moot.
      // The mark goes with it (the audit log keeps the report), so a later plain disable
      // is refused as key_disabled again.
      if (row.leaked_at !== null && row.revoked_at === null) {
        values.leaked_at = null;
        values.leak_source = null;
        changes.released_from_quarantine = true;
      }
    }
    if (Object.keys(values).length > 0) {
      const { narrowed, capped } = await this.deps.store.transaction(async (tx) => {
        await tx.keys.update(id, values);
        const narrowed =
          values.scopes === undefined ? [] : await this.narrowDescendants(tx, row, values.scopes);
        // Keys this one minted end no later than it does.
        const end = values.expires_at;
        if (end === undefined || end === null) return { narrowed, capped: [] };
        const below = await tx.keys.descendants([row.id]);
        const capped = below.filter((k) => k.expires_at === null || k.expires_at > end);
        await tx.keys.setExpiry(
          capped.map((k) => k.id),
          end,
        );
        return { narrowed, capped };
      });
      for (const { row: child, revoked } of narrowed) await this.changed(child, revoked);
      for (const child of capped) await this.changed(child, false);
      await this.changed(row, false);
      const who = { userId: caller.user.id, actor: caller.actor, ip: caller.ip };
      if (toggled) await this.audit.record({ event: toggled, ...who, details: { key_id: id } });
      if (Object.keys(changes).length > 0)
        await this.audit.record({
          event: "key_edited",
          ...who,
          details: { key_id: id, ...changes },
        });
    }
    return { row: { ...row, ...values }, at: now };
  }

  /**
   * Revokes at once: before this returns, this instance's cache entry is gone (the bus runs
   * handlers synchronously) and, with Redis, the key's change counter tells every other one.
   */
  async revoke(caller: Caller, id: string): Promise<KeyAt> {
    const { row } = await this.resolve(caller, id, true);
    const now = this.deps.now();
    if (row.revoked_at !== null) return { row, at: now };
    await this.revokeWithDescendants(row, now, { actor: caller.actor, ip: caller.ip });
    return { row: { ...row, revoked_at: now }, at: now };
  }

  /**
   * Revokes a key someone reported as leaked (leaks/leaks.ts), whoever owns it: the same
   * revocation as `revoke`, reaching every instance before this returns. False when it was
   * revoked already.
   */
  async revokeLeaked(
    row: ApiKey,
    by: { actor: string | null; ip: string | null },
    source: string | null = null,
  ): Promise<boolean> {
    if (row.revoked_at !== null) return false;
    const now = this.deps.now();
    await this.revokeWithDescendants(row, now, { ...by, reason: "leaked" }, (tx) =>
      tx.keys.update(row.id, { leaked_at: now, leak_source: source }),
    );
    return true;
  }

  /**
   * A leaked key under its owner's `quarantine` policy: disabled and marked, so every use is
   * refused as `key_leaked` (on every instance, as fast as revocation) until the owner
   * releases it (`PATCH {enabled: true}`) or revokes it. False when it was revoked or
   * quarantined already. The keys it minted are not touched: their parent is paused, not dead.
   */
  async quarantineLeaked(row: ApiKey, source: string | null): Promise<boolean> {
    if (row.revoked_at !== null || (row.leaked_at !== null && row.disabled_at !== null))
      return false;
    const now = this.deps.now();
    await this.deps.store.keys.update(row.id, {
      disabled_at: row.disabled_at ?? now,
      leaked_at: now,
      leak_source: source,
    });
    await this.changed(row, false);
    return true;
  }

  /**
   * The key and every key minted from it, revoked at one moment, then every instance told
   * (this one's cache through the bus, the others through the key's shared change version and
   * the revocation stream), then the audit log.
   */
  private async revokeWithDescendants(
    row: ApiKey,
    now: number,
    by: { actor: string | null; ip: string | null; reason?: string },
    alsoInTx?: (tx: Store) => Promise<unknown>,
  ): Promise<void> {
    const children = await this.deps.store.transaction(async (tx) => {
      const below = await tx.keys.descendants([row.id]);
      await tx.keys.revoke([row.id, ...below.map((k) => k.id)], now);
      if (alsoInTx) await alsoInTx(tx);
      return below;
    });
    await this.changed(row, true);
    for (const child of children) await this.changed(child, true);
    const reason = by.reason ? { reason: by.reason } : {};
    await this.audit.record({
      event: "key_revoked",
      userId: row.owner_id,
      actor: by.actor,
      ip: by.ip,
      details: { key_id: row.id, name: row.name, ...reason },
    });
    for (const child of children)
      await this.audit.record({
        event: "key_revoked",
        userId: child.owner_id,
        actor: by.actor,
        ip: by.ip,
        details: {
          key_id: child.id,
          name: child.name,
          with_parent: child.parent_key_id,
          ...reason,
        },
      });
  }

  /** A new key with the same name, scopes, environment and project; the old one overlaps. */
  async rotate(caller: Caller, id: string, expireOldIn: string | undefined): Promise<CreatedKey> {
    this.checkVerified(caller);
    const { row: old, caller: acting } = await this.resolve(caller, id, true);
    caller = acting;
    const now = this.deps.now();
    const status = keyStatus(old, now);
    if (status !== "active") throw new LatchkeyError("conflict", CANNOT_ROTATE[status]);
    if (old.disabled_at !== null) throw new LatchkeyError("conflict", CANNOT_ROTATE.disabled);
    const grants = JSON.parse(old.scopes) as string[];
    if (isPrivilegedKey(this.deps.catalogue, old.environment === "test" ? "test" : "live", grants))
      requireStepUp(this.deps, caller, "rotating a live key with write or admin scopes");
    if (caller.keyId !== null) this.checkGrants(caller, grants);
    let oldExpiresAt = old.expires_at;
    if (expireOldIn !== undefined) {
      const ms = parseDuration(expireOldIn);
      if (ms === null) throw badField("expire_old_in", "not a duration such as 24h, 7d");
      oldExpiresAt = Math.min(old.expires_at ?? Infinity, now + ms);
    }
    const environment = old.environment === "test" ? "test" : "live";
    // The same lifetime as the old key had, counted from now.
    let expiresAt = old.expires_at === null ? null : now + (old.expires_at - old.created_at);
    let ipAllow = old.ip_allow ? (JSON.parse(old.ip_allow) as string[]) : null;
    // Another key rotating this one mints the successor: it stays within that key's limits
    // and dies with it. A key rotating itself keeps its lineage.
    const minter =
      caller.keyId !== null && caller.keyId !== old.id
        ? await this.ownRow(caller, caller.keyId)
        : null;
    if (minter) {
      if (minter.project_id !== null && old.project_id !== minter.project_id)
        throw new LatchkeyError("project_mismatch", "this key may only rotate keys of its project");
      ({ expiresAt, ipAllow } = withinParent(
        minter,
        { environment, expiresAt, ipAllow },
        { expiry: "cap", field: "expire_old_in" },
      ));
    }
    const policy = caller.user.org?.policy ?? null;
    if (policy) {
      checkPolicyKey(policy, { environment, expiresAt: null, now });
      // Under a lifetime policy the successor lives no longer than it allows.
      if (policy.maxKeyLifetimeMs !== null)
        expiresAt = Math.min(expiresAt ?? Infinity, now + policy.maxKeyLifetimeMs);
    }
    const { key, row } = newKeyRow(this.deps.random, {
      ownerId: old.owner_id,
      name: old.name,
      environment,
      grants,
      projectId: old.project_id,
      ipAllow,
      expiresAt,
      now,
      brand: this.deps.config.keyBrand,
      rotatedFrom: old.id,
      parentKeyId: minter?.id ?? old.parent_key_id,
      // The successor is the same key to its owner and to the services that read its meta;
      // it spends the same credits (one counter: the pool) and has the same named limits.
      description: old.description,
      meta: old.meta,
      limits: {
        credits_remaining: old.credits_remaining,
        credits_refill_amount: old.credits_refill_amount,
        credits_refill_interval: old.credits_refill_interval,
        credits_period: old.credits_period,
        credits_gen: old.credits_gen,
        credits_pool: old.credits_remaining === null ? null : (old.credits_pool ?? old.id),
        ratelimits: old.ratelimits,
      },
      createdBy: old.created_by ?? null,
    });
    const capped = await this.deps.store.transaction(async (tx) => {
      const { limit, counted, successorOf } = await planState(tx, old.owner_id, now);
      if (successorOf.has(old.id))
        throw new LatchkeyError("conflict", "this key was already rotated; rotate its successor");
      // The old key's overlap is free; only a chain of overlaps would add to the count.
      if (limit !== null && counted([row]) > Math.max(limit, counted([]))) throw planLimit(limit);
      await tx.keys.insert(row);
      if (oldExpiresAt === old.expires_at || oldExpiresAt === null) return [];
      await tx.keys.update(old.id, { expires_at: oldExpiresAt });
      // Keys the old one minted end no later than it does.
      const below = await tx.keys.descendants([old.id]);
      const capped = below.filter((k) => k.expires_at === null || k.expires_at > oldExpiresAt);
      await tx.keys.setExpiry(
        capped.map((k) => k.id),
        oldExpiresAt,
      );
      return capped;
    });
    await this.deps.bus.publish({
      type: "key_changed",
      keyId: row.id,
      keyHash: row.key_hash,
      revoked: false,
    });
    await this.changed(old, false);
    for (const child of capped) await this.changed(child, false);
    await this.audit.record({
      event: "key_rotated",
      userId: caller.user.id,
      actor: caller.actor,
      ip: caller.ip,
      details: {
        key_id: old.id,
        new_key_id: row.id,
        old_expires_at: isoOrNull(oldExpiresAt),
      },
    });
    return { row, at: now, key };
  }

  /**
   * The caller's own key, or an organization's the caller is a member of (issue 16); anyone
   * else's is indistinguishable from a missing one.
   */
  async own(caller: Caller, id: string): Promise<ApiKey> {
    return (await this.resolve(caller, id, false)).row;
  }

  /** Strictly the caller's (the acting owner's) own key. */
  private async ownRow(caller: Caller, id: string): Promise<ApiKey> {
    const row = await this.deps.store.keys.owned(id, caller.user.id);
    if (!row) throw notFound();
    return row;
  }

  /**
   * The key and who acts on it: the caller for their own key; for an organization's key, the
   * caller as a member of it (their role's share of its access). A member without the role to
   * manage every key may change only the keys they minted (`write`).
   */
  private async resolve(
    caller: Caller,
    id: string,
    write: boolean,
  ): Promise<{ row: ApiKey; caller: Caller }> {
    let row = await this.deps.store.keys.owned(id, caller.user.id);
    let acting = caller;
    if (!row) {
      // A person naming an organization's key: they act in that organization, if a member.
      if (this.inOrg === null || caller.user.org !== undefined || caller.member) throw notFound();
      const [found] = await this.deps.store.keys.byIds([id]);
      if (!found || !found.owner_id.startsWith("org_")) throw notFound();
      const inOrg = await this.inOrg(caller, found.owner_id);
      if (inOrg === null) throw notFound();
      if (write && caller.keyId !== null) throw PERSONAL_KEY_IN_ORG();
      row = found;
      acting = inOrg;
    }
    if (write && acting.member && !roleCan(acting.member.role, "manage_all_keys")) {
      if (row.created_by !== acting.member.userId)
        throw new LatchkeyError(
          "forbidden",
          `a ${acting.member.role} may change only the organization's keys they minted`,
        );
    }
    return { row, caller: acting };
  }

  /**
   * Tells every instance that these keys changed (an organization's member or policy did):
   * each is re-read, with its owner and creator, before its next use anywhere.
   */
  async touch(rows: readonly ApiKey[]): Promise<void> {
    for (const row of rows) await this.changed(row, false);
  }

  /**
   * Revokes every unrevoked key of `ownerId` (an organization being deleted), each with the
   * keys it minted, on every instance before this returns.
   */
  async revokeAll(
    rows: readonly ApiKey[],
    by: { actor: string | null; ip: string | null; reason: string },
  ): Promise<number> {
    const now = this.deps.now();
    let revoked = 0;
    for (const row of rows) {
      if (row.revoked_at !== null) continue;
      await this.revokeWithDescendants(row, now, by);
      revoked += 1;
    }
    return revoked;
  }

  /**
   * A key's new address allowlist (null: none). A key minted by a key stays within its
   * parent's list (unset: the parent's), a key editing another within its own; and the keys
   * this one minted must still fall inside the new list (else 409: narrow or revoke them first).
   */
  private async allowlistFor(
    caller: Caller,
    row: ApiKey,
    entries: string[] | null,
  ): Promise<string[] | null> {
    let next = entries === null ? null : compileIpAllow(entries);
    const environment = row.environment === "test" ? "test" : "live";
    for (const boundId of [row.parent_key_id, caller.keyId]) {
      if (boundId === null || boundId === row.id) continue;
      const bound = await this.deps.store.keys.byIds([boundId]);
      if (bound[0])
        ({ ipAllow: next } = withinParent(
          bound[0],
          { environment, expiresAt: null, ipAllow: next },
          { expiry: "cap", field: "ip_allow" },
        ));
    }
    if (next !== null) {
      const now = this.deps.now();
      const live = (await this.deps.store.keys.descendants([row.id])).filter(
        (k) => keyStatus(k, now) === "active",
      );
      const outside = live.filter(
        (k) =>
          k.ip_allow === null ||
          (JSON.parse(k.ip_allow) as string[]).some((range) => !isRangeWithin(range, next!)),
      );
      if (outside.length > 0)
        throw new LatchkeyError(
          "conflict",
          `keys this key minted may be used outside the new list (${outside.map((k) => k.id).join(", ")}); narrow or revoke them first`,
        );
    }
    return next;
  }

  /** Newest first. */
  list(ownerId: string): Promise<ApiKey[]> {
    return this.deps.store.keys.listByOwner(ownerId);
  }

  /**
   * Tells every instance that a key changed: its shared version first (with Redis; read by
   * KeyChecker before it trusts a cached row), then the bus.
   */
  private async changed(row: ApiKey, revoked: boolean): Promise<void> {
    const { limiter, bus } = this.deps;
    if (limiter.sharesVersions) await limiter.bumpVersion(row.key_hash);
    await bus.publish({ type: "key_changed", keyId: row.id, keyHash: row.key_hash, revoked });
  }

  /**
   * A key's scopes were narrowed: every key minted from it (at any depth) keeps only what
   * its parent still has, as concrete scopes. One left with nothing is revoked.
   */
  private async narrowDescendants(
    tx: Store,
    parent: ApiKey,
    parentScopes: string,
  ): Promise<{ row: ApiKey; revoked: boolean }[]> {
    const { catalogue } = this.deps;
    const everything = new Set([...catalogue.scopes, ADMIN_SCOPE]);
    const reach = new Map<string, Set<string>>([
      [parent.id, catalogue.expand(JSON.parse(parentScopes) as string[], everything)],
    ]);
    const changed: { row: ApiKey; revoked: boolean }[] = [];
    // Parents come before their children in the breadth-first order.
    for (const child of await tx.keys.descendants([parent.id])) {
      const above = reach.get(child.parent_key_id!) ?? new Set<string>();
      const own = catalogue.expand(JSON.parse(child.scopes) as string[], everything);
      const kept = [...own].filter((scope) => above.has(scope)).sort();
      reach.set(child.id, new Set(kept));
      if (kept.length === own.size) continue;
      if (kept.length === 0) await tx.keys.update(child.id, { revoked_at: this.deps.now() });
      else await tx.keys.update(child.id, { scopes: JSON.stringify(kept) });
      changed.push({ row: child, revoked: kept.length === 0 });
    }
    return changed;
  }

  /** Known grants, deduplicated; unknown ones are 400 naming each. */
  private known(scopes: readonly string[]): string[] {
    const grants = [...new Set(scopes)];
    const unknown = scopes
      .map((scope, index) => ({ scope, index }))
      .filter(({ scope }) => !this.deps.catalogue.isKnownGrant(scope));
    if (unknown.length > 0)
      throw new LatchkeyError("invalid_request", "unknown scopes", {
        details: unknown.map(({ scope, index }) => ({
          field: `scopes.${index}`,
          message: `unknown scope: ${scope}`,
        })),
      });
    return grants;
  }

  /**
   * Grants must be known and within the owner's access (`admin:*` only for staff). A key
   * acting as caller cannot mint more than its own effective scopes either.
   */
  private checkGrants(caller: Caller, scopes: readonly string[]): string[] {
    const grants = this.known(scopes);
    const { catalogue } = this.deps;
    const beyond = new Set(catalogue.ungrantable(grants, caller.user.access));
    // A key, or a member in an organization: within its own (the member's role's) share too.
    if (caller.keyId !== null || caller.member !== undefined) {
      for (const grant of grants) {
        const reach = catalogue.expand([grant], caller.user.access);
        for (const scope of reach) if (!caller.scopes.has(scope)) beyond.add(grant);
      }
    }
    if (beyond.size > 0)
      throw new LatchkeyError("scope_not_grantable", "a key cannot exceed its owner's access", {
        details: [...beyond].map((grant) => ({
          field: `scopes.${grants.indexOf(grant)}`,
          message: `not grantable: ${grant}`,
        })),
      });
    return grants;
  }
}

/** How a person acts in an organization: their caller there, or null when not a member. */
export type OrgCallerOf = (caller: Caller, orgId: string) => Promise<Caller | null>;

function policyViolation(message: string, field: string): LatchkeyError {
  return new LatchkeyError("policy_violation", message, { details: [{ field, message }] });
}

/** An organization's allowed scopes (issue 16): a grant beyond them is its policy's refusal. */
function checkPolicyScopes(deps: Deps, policy: OrgPolicy, grants: string[]): void {
  if (policy.allowedScopes === null) return;
  const allowed = orgAccessOf(deps.catalogue, policy);
  const beyond = deps.catalogue.ungrantable(grants, allowed);
  if (grants.includes("*") || beyond.length > 0) {
    const named = grants.includes("*") ? "*" : beyond.join(", ");
    throw policyViolation(
      `the organization allows keys only these scopes: ${policy.allowedScopes.join(", ")} (not ${named})`,
      "scopes",
    );
  }
}

/** An organization's environments and maximum key lifetime (issue 16). */
function checkPolicyKey(
  policy: OrgPolicy,
  key: { environment: Environment; expiresAt: number | null; now: number },
): void {
  if (!allowsEnvironment(policy, key.environment))
    throw policyViolation(
      `the organization allows only ${[...policy.environments!].join(" and ")} keys`,
      "environment",
    );
  const max = policy.maxKeyLifetimeMs;
  if (max !== null && (key.expiresAt === null || key.expiresAt - key.now > max))
    throw policyViolation(
      `the organization's keys must expire within ${formatDuration(max)}: set expires_in`,
      "expires_in",
    );
}

/**
 * A key minting (or rotating) a key: the new key keeps the minting key's environment, ends
 * no later than it (unset: the same moment; `cap` shortens instead of refusing), and is used
 * only from addresses it may use (unset: its list). Beyond that is 403 `scope_not_grantable`.
 */
export function withinParent(
  parent: ApiKey,
  child: { environment: Environment; expiresAt: number | null; ipAllow: string[] | null },
  options: { expiry: "refuse" | "cap"; field: string },
): { expiresAt: number | null; ipAllow: string[] | null } {
  const problems: { field: string; message: string }[] = [];
  if (child.environment !== parent.environment)
    problems.push({
      field: "environment",
      message: `a ${parent.environment} key can only mint ${parent.environment} keys`,
    });
  let expiresAt = child.expiresAt;
  if (parent.expires_at !== null) {
    if (expiresAt === null || (options.expiry === "cap" && expiresAt > parent.expires_at))
      expiresAt = parent.expires_at;
    else if (expiresAt > parent.expires_at)
      problems.push({
        field: options.field,
        message: `must end no later than the key making it (${new Date(parent.expires_at).toISOString()})`,
      });
  }
  let ipAllow = child.ipAllow;
  if (parent.ip_allow !== null) {
    const allowed = JSON.parse(parent.ip_allow) as string[];
    if (ipAllow === null) ipAllow = allowed;
    else
      ipAllow.forEach((range, index) => {
        if (!isRangeWithin(range, allowed))
          problems.push({
            field: `ip_allow.${index}`,
            message: `${range} is outside the ip_allow of the key making it`,
          });
      });
  }
  if (problems.length > 0)
    throw new LatchkeyError(
      "scope_not_grantable",
      "a key cannot make a key beyond its own limits (environment, expiry, addresses)",
      { details: problems },
    );
  return { expiresAt, ipAllow };
}
