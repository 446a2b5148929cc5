import { parseDuration as parseDurationStrict } from "../../core/durations.js";
import { LatchkeyError } from "../../core/errors.js";
import type { Environment } from "../../core/key-format.js";
import {
  isOrgRole,
  roleAccess,
  roleCan,
  type OrgAction,
  type OrgRole,
} from "../../core/org-roles.js";
import { newId } from "../../infra/ids.js";
import type { OrgMemberView, OrgPatch, OrgRow, Store, UserRow } from "../../store/port.js";
import type { UserAccess, Users } from "../accounts/users.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import type { ApiKeys, Caller } from "../keys/api-keys.js";
import { compileIpAllow } from "../keys/rows.js";
import { requireStepUp } from "../step-up.js";
import { policyOf, type OrgPolicy } from "./policy.js";

/** A member acting in an organization, as org routes see them. */
export interface OrgContext {
  org: OrgRow;
  /** The member's role; `admin` stands for an organization's own key acting on it. */
  role: OrgRole;
  /** The caller as ApiKeys and Projects take it: the organization's account, the member's share. */
  caller: Caller;
  /** The person, for their own side of things (leaving, audit). */
  person: Caller;
}

export interface PolicyInput {
  max_key_lifetime?: string | null | undefined;
  require_2fa?: boolean | undefined;
  allowed_environments?: Environment[] | null | undefined;
  ip_allow?: string[] | null | undefined;
  allowed_scopes?: string[] | null | undefined;
}

const notFound = () => new LatchkeyError("not_found", "organization not found");

/**
 * Organizations (issue 16, SPEC §10): create, rename, delete; members and their roles; the
 * organization's policies. An organization is an account (users.kind `org`) that owns keys
 * and projects like a person; its members act in it through `context`, which reads their
 * membership from the store on every call, so a removed member is refused at once everywhere.
 */
export class Orgs {
  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
    private readonly users: Users,
    private readonly apiKeys: ApiKeys,
  ) {}

  async create(person: Caller, name: string): Promise<{ org: OrgRow; role: OrgRole }> {
    if (person.user.org !== undefined || person.keyId !== null)
      throw new LatchkeyError("forbidden", "only a signed-in person creates organizations");
    const now = this.deps.now();
    const id = newId(this.deps.random, "org");
    const account: UserRow = {
      id,
      // An organization's account has no address: its id, which no signup can take.
      email: id,
      password_hash: "!",
      role: "owner",
      is_staff: 0,
      is_service: 0,
      plan: "free",
      disabled: 0,
      email_verified_at: now,
      leak_policy: "revoke",
      kind: "org",
      created_at: now,
      updated_at: now,
    };
    const org: OrgRow = {
      id,
      name,
      created_by: person.user.id,
      created_at: now,
      updated_at: now,
      deleted_at: null,
      max_key_lifetime_ms: null,
      require_2fa: 0,
      allowed_environments: null,
      ip_allow: null,
      allowed_scopes: null,
    };
    await this.deps.store.orgs.create(account, org, {
      org_id: id,
      user_id: person.user.id,
      role: "owner",
      created_at: now,
      updated_at: now,
    });
    await this.deps.bus.publish({ type: "user_changed", userId: person.user.id });
    await this.audit.record({
      event: "org_created",
      userId: person.user.id,
      orgId: id,
      actor: person.actor,
      ip: person.ip,
      details: { org_id: id, name },
    });
    return { org, role: "owner" };
  }

  /** The person's organizations, with their role in each. */
  async list(userId: string): Promise<{ org: OrgRow; role: OrgRole; plan: string }[]> {
    const rows = await this.deps.store.orgs.membershipsOf(userId);
    const plans = await Promise.all(rows.map(({ org }) => this.deps.store.users.byId(org.id)));
    return rows.map(({ org, role }, i) => ({
      org,
      role: role as OrgRole,
      plan: plans[i]?.plan ?? "free",
    }));
  }

  async plan(orgId: string): Promise<string> {
    return (await this.deps.store.users.byId(orgId))?.plan ?? "free";
  }

  /**
   * The caller acting in the organization, read fresh from the store: a member (their role),
   * or the organization's own key (as `admin`, within its scopes). Not a member: 404, as a
   * missing organization. `action`: what the role must be able to do (403 otherwise). Under
   * `require_2fa` a member without two-factor is refused (403 `policy_violation`) unless
   * `allowWithout2fa` (seeing the organization, leaving it).
   */
  async context(
    person: Caller,
    orgId: string,
    options: { action?: OrgAction; allowWithout2fa?: boolean } = {},
  ): Promise<OrgContext> {
    const org = await this.deps.store.orgs.byId(orgId);
    if (!org) throw notFound();
    const account = await this.users.access(orgId);
    if (!account || account.org === undefined) throw notFound();
    if (person.user.id === orgId) {
      // The organization's own key: it acts as the organization, within its scopes.
      if (options.action !== undefined && options.action !== "read_audit")
        throw new LatchkeyError(
          "forbidden",
          "an organization's key cannot manage the organization",
        );
      return { org, role: "admin", caller: person, person };
    }
    if (person.user.org !== undefined) throw notFound();
    const member = await this.deps.store.orgs.membership(orgId, person.user.id);
    if (!member || !isOrgRole(member.role)) throw notFound();
    const role = member.role;
    const policy = account.org.policy;
    if (
      policy.require2fa &&
      !options.allowWithout2fa &&
      !(await this.deps.store.orgs.has2fa(person.user.id))
    )
      throw new LatchkeyError(
        "policy_violation",
        `${org.name} requires two-factor authentication of its members: enable it (latchkey 2fa enable) to use the organization`,
        {
          details: [{ field: "require_2fa", message: "two-factor authentication is not enabled" }],
        },
      );
    if (options.action !== undefined && !roleCan(role, options.action))
      throw new LatchkeyError("forbidden", `a ${role} of the organization cannot do this`);
    return { org, role, caller: this.callerIn(person, account, role), person };
  }

  /** How a person acts in an organization whose key they name (ApiKeys), or null: not a member. */
  async callerFor(person: Caller, orgId: string): Promise<Caller | null> {
    try {
      return (await this.context(person, orgId)).caller;
    } catch (error) {
      if (error instanceof LatchkeyError && error.code === "not_found") return null;
      throw error;
    }
  }

  /** The member's caller in the organization: its account, their role's share of their scopes. */
  private callerIn(person: Caller, account: UserAccess, role: OrgRole): Caller {
    const share = roleAccess(role, account.access);
    // A person's own key is not the organization's: there it only reads (changes take a
    // signed-in member, or the organization's own key).
    const usable = (scope: string) =>
      share.has(scope) && (person.keyId === null || scope.endsWith(":read"));
    return {
      ...person,
      // The verified-address rule for minting is the member's (the account has none).
      user: { ...account, emailVerified: person.user.emailVerified },
      scopes: new Set([...person.scopes].filter(usable)),
      member: { userId: person.user.id, role },
    };
  }

  async rename(ctx: OrgContext, name: string): Promise<OrgRow> {
    const now = this.deps.now();
    await this.deps.store.orgs.update(ctx.org.id, { name, updated_at: now });
    await this.changedOrg(ctx.org.id);
    // Members' whoami lists the organization by name.
    for (const member of await this.deps.store.orgs.members(ctx.org.id))
      await this.deps.bus.publish({ type: "user_changed", userId: member.user_id });
    await this.record(ctx, "org_renamed", { name, previous: ctx.org.name });
    return { ...ctx.org, name, updated_at: now };
  }

  /**
   * Deletes the organization: refused (409) while it has active keys unless `revokeKeys`, then
   * every key revoked (everywhere before this returns), members and invitations gone, its
   * account disabled. Its audit log stays.
   */
  async delete(ctx: OrgContext, revokeKeys: boolean): Promise<{ keysRevoked: number }> {
    requireStepUp(this.deps, ctx.person, "deleting an organization");
    const now = this.deps.now();
    const keys = (await this.deps.store.orgs.keysOf(ctx.org.id)).filter(
      (k) => k.expires_at === null || k.expires_at > now,
    );
    if (keys.length > 0 && !revokeKeys)
      throw new LatchkeyError(
        "conflict",
        `the organization has ${keys.length} active API key(s): revoke them first, or delete with revoke_keys=true`,
        { active_keys: keys.length },
      );
    const revoked = await this.apiKeys.revokeAll(keys, {
      actor: ctx.person.actor,
      ip: ctx.person.ip,
      reason: "org_deleted",
    });
    const members = await this.deps.store.transaction(async (tx) => {
      if (!(await tx.orgs.lock(ctx.org.id))) throw notFound();
      await tx.orgs.update(ctx.org.id, { deleted_at: now, updated_at: now });
      await tx.users.update(ctx.org.id, { disabled: 1, updated_at: now });
      for (const invite of await tx.orgs.pendingInvitations(ctx.org.id, now))
        await tx.orgs.revokeInvitation(ctx.org.id, invite.id, now);
      return tx.orgs.removeAllMembers(ctx.org.id);
    });
    await this.changedOrg(ctx.org.id);
    for (const userId of members) await this.deps.bus.publish({ type: "user_changed", userId });
    await this.record(ctx, "org_deleted", { keys_revoked: revoked, members: members.length });
    return { keysRevoked: revoked };
  }

  policy(ctx: OrgContext): OrgPolicy {
    return policyOf(ctx.org);
  }

  /**
   * Sets policies (only those given). They hold at once on every instance: every key of the
   * organization is re-read before its next use. A maximum lifetime also shortens the keys
   * that would outlive it, to end that long from now.
   */
  async setPolicy(ctx: OrgContext, input: PolicyInput): Promise<OrgRow> {
    requireStepUp(this.deps, ctx.person, "changing an organization's policies");
    const now = this.deps.now();
    const patch: OrgPatch = { updated_at: now };
    const changes: Record<string, unknown> = {};
    if (input.max_key_lifetime !== undefined) {
      patch.max_key_lifetime_ms =
        input.max_key_lifetime === null ? null : parseLifetime(input.max_key_lifetime);
      changes.max_key_lifetime = input.max_key_lifetime;
    }
    if (input.require_2fa !== undefined) {
      patch.require_2fa = input.require_2fa ? 1 : 0;
      changes.require_2fa = input.require_2fa;
    }
    if (input.allowed_environments !== undefined) {
      const list =
        input.allowed_environments === null
          ? null
          : [...new Set(input.allowed_environments)].sort();
      patch.allowed_environments = list === null ? null : JSON.stringify(list);
      changes.allowed_environments = list;
    }
    if (input.ip_allow !== undefined) {
      const ranges = input.ip_allow === null ? null : compileIpAllow(input.ip_allow);
      patch.ip_allow = ranges === null ? null : JSON.stringify(ranges);
      changes.ip_allow = ranges;
    }
    if (input.allowed_scopes !== undefined) {
      const list = input.allowed_scopes === null ? null : [...new Set(input.allowed_scopes)];
      if (list) {
        const unknown = this.deps.catalogue.unknownGrants(list);
        if (unknown.length > 0)
          throw new LatchkeyError("invalid_request", "unknown scopes", {
            details: unknown.map((scope) => ({
              field: `allowed_scopes.${list.indexOf(scope)}`,
              message: `unknown scope: ${scope}`,
            })),
          });
      }
      patch.allowed_scopes = list === null ? null : JSON.stringify(list);
      changes.allowed_scopes = list;
    }
    const keys = await this.deps.store.transaction(async (tx) => {
      if (!(await tx.orgs.lock(ctx.org.id))) throw notFound();
      await tx.orgs.update(ctx.org.id, patch);
      const keys = await tx.orgs.keysOf(ctx.org.id);
      const max = patch.max_key_lifetime_ms;
      if (max !== undefined && max !== null) {
        const end = now + max;
        const longer = keys.filter((k) => k.expires_at === null || k.expires_at > end);
        await tx.keys.setExpiry(
          longer.map((k) => k.id),
          end,
        );
        changes.keys_shortened = longer.length;
      }
      return keys;
    });
    await this.changedOrg(ctx.org.id);
    await this.apiKeys.touch(keys);
    await this.record(ctx, "org_policy_set", changes);
    return (await this.deps.store.orgs.byId(ctx.org.id))!;
  }

  members(ctx: OrgContext): Promise<OrgMemberView[]> {
    return this.deps.store.orgs.members(ctx.org.id);
  }

  /**
   * Changes a member's role. Only an owner makes or unmakes owners; at least one owner always
   * remains (checked under the organization's lock, so two owners demoting each other at once
   * cannot leave none). Their keys in the organization narrow at once on every instance.
   */
  async setRole(ctx: OrgContext, userId: string, role: OrgRole): Promise<OrgMemberView> {
    const now = this.deps.now();
    const before = await this.deps.store.transaction(async (tx) => {
      if (!(await tx.orgs.lock(ctx.org.id))) throw notFound();
      const member = await tx.orgs.membership(ctx.org.id, userId);
      if (!member) throw new LatchkeyError("not_found", "no such member");
      if ((member.role === "owner" || role === "owner") && !roleCan(ctx.role, "manage_owners"))
        throw new LatchkeyError("forbidden", "only an owner makes or changes owners");
      if (member.role === role) return member.role;
      await tx.orgs.setRole(ctx.org.id, userId, role, now);
      await this.keepAnOwner(tx, ctx.org.id);
      return member.role;
    });
    if (before !== role) {
      await this.memberChanged(ctx.org.id, userId);
      await this.record(ctx, "org_member_role_changed", {
        user_id: userId,
        role,
        previous: before,
      });
    }
    const view = (await this.deps.store.orgs.members(ctx.org.id)).find((m) => m.user_id === userId);
    return view!;
  }

  /** Removes a member (an owner only by an owner; never the last owner). */
  async removeMember(ctx: OrgContext, userId: string): Promise<void> {
    await this.deps.store.transaction(async (tx) => {
      if (!(await tx.orgs.lock(ctx.org.id))) throw notFound();
      const member = await tx.orgs.membership(ctx.org.id, userId);
      if (!member) throw new LatchkeyError("not_found", "no such member");
      if (member.role === "owner" && !roleCan(ctx.role, "manage_owners"))
        throw new LatchkeyError("forbidden", "only an owner removes an owner");
      await tx.orgs.removeMember(ctx.org.id, userId);
      await this.keepAnOwner(tx, ctx.org.id);
    });
    await this.memberChanged(ctx.org.id, userId);
    await this.record(ctx, "org_member_removed", { user_id: userId });
  }

  /** The person leaves (the last owner cannot: make another owner, or delete the organization). */
  async leave(person: Caller, orgId: string): Promise<void> {
    const ctx = await this.context(person, orgId, { allowWithout2fa: true });
    if (ctx.caller.member === undefined) throw new LatchkeyError("forbidden", "a key cannot leave");
    await this.deps.store.transaction(async (tx) => {
      if (!(await tx.orgs.lock(orgId))) throw notFound();
      await tx.orgs.removeMember(orgId, person.user.id);
      await this.keepAnOwner(tx, orgId);
    });
    await this.memberChanged(orgId, person.user.id);
    await this.record(ctx, "org_member_left", { user_id: person.user.id });
  }

  private async keepAnOwner(tx: Store, orgId: string): Promise<void> {
    if ((await tx.orgs.countOwners(orgId)) === 0)
      throw new LatchkeyError(
        "conflict",
        "an organization keeps at least one owner: make another member owner first",
      );
  }

  /**
   * A member's role or membership changed: the keys they minted there are re-read (with their
   * role) before their next use on any instance, and their own cached access (whoami) dropped.
   */
  private async memberChanged(orgId: string, userId: string): Promise<void> {
    const keys = await this.deps.store.orgs.keysOf(orgId, userId);
    await this.deps.bus.publish({ type: "user_changed", userId });
    await this.apiKeys.touch(keys);
  }

  private async changedOrg(orgId: string): Promise<void> {
    await this.deps.bus.publish({ type: "user_changed", userId: orgId });
  }

  /** An organization event: in its log, with the member who acted. */
  async record(
    ctx: OrgContext,
    event: Parameters<AuditLog["record"]>[0]["event"],
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record({
      event,
      userId: ctx.person.user.org !== undefined ? ctx.org.id : ctx.person.user.id,
      orgId: ctx.org.id,
      actor: ctx.person.actor,
      ip: ctx.person.ip,
      details: { org_id: ctx.org.id, ...details },
    });
  }
}

function parseLifetime(text: string): number {
  const ms = parseDurationStrict(text);
  if (ms === null)
    throw new LatchkeyError(
      "invalid_request",
      "max_key_lifetime: not a duration such as 30d, 90d, 1y",
      {
        details: [{ field: "max_key_lifetime", message: "not a duration such as 30d, 90d, 1y" }],
      },
    );
  return ms;
}

/** The records org routes present (api/mappers.ts), as the store keeps them. */
export type {
  OrgInvitationRow as OrgInvitation,
  OrgMemberView as OrgMember,
  OrgRow as Org,
} from "../../store/port.js";
