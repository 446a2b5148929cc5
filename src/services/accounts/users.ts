import { LatchkeyError } from "../../core/errors.js";
import type { OrgRole } from "../../core/org-roles.js";
import type { Plan } from "../../core/plans.js";
import type { Role } from "../../core/scopes.js";
import type { Settled } from "../../core/settled.js";
import type { UserPatch, UserRow } from "../../store/port.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import { orgAccessOf, policyOf, type OrgPolicy } from "../orgs/policy.js";
import { endOtherSessions } from "./sessions.js";

/** An account, as staff list and change it. `createdAt` is epoch milliseconds. */
export interface User {
  id: string;
  email: string;
  role: Role;
  isStaff: boolean;
  /** A service account: staff let it verify the platform's keys. */
  isService: boolean;
  plan: Plan;
  disabled: boolean;
  /** The address was proved by a mailed link (SPEC §9). */
  emailVerified: boolean;
  createdAt: number;
}

/** An organization the user belongs to, as whoami lists it. */
export interface Membership {
  id: string;
  name: string;
  role: OrgRole;
}

/**
 * A user as the hot path needs them: who they are and what they may do. An organization's
 * account (issue 16) is one too: it owns the organization's keys; `org` holds its policies.
 */
export interface UserAccess extends Omit<User, "createdAt"> {
  /** Concrete scopes the user may use or grant, from role and staff flag. */
  access: ReadonlySet<string>;
  /** The user's organizations (none for an organization's account). */
  orgs: readonly Membership[];
  /** Set for an organization's account: its name and policies. */
  org?: { name: string; policy: OrgPolicy };
}

/** A stored user row as the domain's User (never the password hash). */
export function userOf(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    role: row.role as Role,
    isStaff: row.is_staff === 1,
    isService: row.is_service === 1,
    plan: row.plan as Plan,
    disabled: row.disabled === 1,
    emailVerified: row.email_verified_at !== null,
    createdAt: row.created_at,
  };
}

const CACHE_LIMIT = 50_000;

/**
 * Users and their current access. Access is cached for the hot path and dropped on
 * every change (here or, through the bus, on another instance).
 */
export class Users {
  private readonly cache = new Map<string, UserAccess>();
  /** Bumped by every change, so a read that raced one is not cached. */
  private generation = 0;

  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
  ) {
    deps.bus.subscribe((event) => {
      if (event.type === "user_changed") {
        this.generation += 1;
        this.cache.delete(event.userId);
      }
    });
  }

  /**
   * The user's current access: from memory when cached (no promise), else read and cached.
   * `fresh`: read it again whatever is cached (a key re-read after a change, keys/check.ts).
   */
  access(userId: string, fresh = false): Settled<UserAccess | null> {
    return (fresh ? undefined : this.cache.get(userId)) ?? this.load(userId);
  }

  private async load(userId: string): Promise<UserAccess | null> {
    const generation = this.generation;
    const row = await this.deps.store.users.byId(userId);
    if (!row) return null;
    const access = await this.withOrgs(row);
    // A change published while this read was in flight may not be in it: not cached then.
    if (generation !== this.generation) return access;
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(userId, access);
    return access;
  }

  /** The row's access, with its organizations (a person) or its policies (an organization). */
  async withOrgs(row: UserRow): Promise<UserAccess> {
    const base = this.toAccess(row);
    if (row.kind === "org") {
      const org = await this.deps.store.orgs.byId(row.id);
      // A deleted organization's account is disabled: its keys are refused as invalid.
      if (!org) return { ...base, disabled: true, access: new Set() };
      const policy = policyOf(org);
      return {
        ...base,
        access: orgAccessOf(this.deps.catalogue, policy),
        org: { name: org.name, policy },
      };
    }
    const memberships = await this.deps.store.orgs.membershipsOf(row.id);
    return {
      ...base,
      orgs: memberships.map(({ org, role }) => ({
        id: org.id,
        name: org.name,
        role: role as OrgRole,
      })),
    };
  }

  toAccess(row: UserRow): UserAccess {
    const { createdAt: _createdAt, ...user } = userOf(row);
    return { ...user, access: this.deps.catalogue.accessOf(user), orgs: [] };
  }

  get(userId: string): Promise<UserRow | undefined> {
    return this.deps.store.users.byId(userId);
  }

  async list(options: { limit: number; offset: number }): Promise<User[]> {
    const rows = await this.deps.store.users.list(options);
    return rows.map(userOf);
  }

  /**
   * Staff change a user's plan, role, staff or service flag or disabled state; effective at
   * once. A service account may verify every tenant's keys (`keys:verify`).
   */
  async update(
    userId: string,
    patch: { plan?: Plan; role?: Role; staff?: boolean; service?: boolean; disabled?: boolean },
    by: { actor: string; userId: string; ip: string | null },
  ): Promise<User> {
    const row = await this.get(userId);
    // An organization's account (issue 16) has a plan and may be disabled; it has no role,
    // staff or service flag.
    if (
      row?.kind === "org" &&
      (patch.role !== undefined || patch.staff !== undefined || patch.service !== undefined)
    )
      throw new LatchkeyError(
        "invalid_request",
        "an organization's account takes only plan and disabled; roles are its members'",
      );
    const values: UserPatch = { updated_at: this.deps.now() };
    if (patch.plan !== undefined) values.plan = patch.plan;
    if (patch.role !== undefined) values.role = patch.role;
    if (patch.staff !== undefined) values.is_staff = patch.staff ? 1 : 0;
    if (patch.service !== undefined) values.is_service = patch.service ? 1 : 0;
    if (patch.disabled !== undefined) values.disabled = patch.disabled ? 1 : 0;
    if (!(await this.deps.store.users.update(userId, values)))
      throw new LatchkeyError("not_found", "no such user");
    await this.deps.bus.publish({ type: "user_changed", userId });
    // Disabling ends the sessions too (ASVS 7.4.2): enabling the account again must not
    // bring back what was signed in before.
    const ended =
      patch.disabled === true
        ? await endOtherSessions(this.deps, userId, null, "account_disabled")
        : [];
    await this.audit.record({
      event: "user_updated",
      userId,
      actor: by.actor,
      ip: by.ip,
      details: {
        ...patch,
        by: by.userId,
        ...(patch.disabled === true ? { sessions_ended: ended.length } : {}),
      },
    });
    return userOf((await this.get(userId))!);
  }

  /**
   * Staff sign a user out everywhere (ASVS 7.4.5): every session (refresh-token family) ends,
   * at once on every instance and at SDK verifiers. The user's API keys are untouched.
   */
  async endSessions(
    userId: string,
    by: { actor: string; userId: string; ip: string | null },
  ): Promise<number> {
    if (!(await this.deps.store.users.byId(userId)))
      throw new LatchkeyError("not_found", "no such user");
    const ended = await endOtherSessions(this.deps, userId, null, "ended_by_staff");
    await this.audit.record({
      event: "sessions_ended_by_staff",
      userId,
      actor: by.actor,
      ip: by.ip,
      details: { sessions_ended: ended.length, by: by.userId },
    });
    return ended.length;
  }
}
