/**
 * Scopes are `resource:action` (SPEC §4). A grant may also be `resource:*` or `*`.
 * Roles and the staff flag define a user's access; a key's effective scopes are its
 * scopes ∩ its owner's access, computed at every check.
 */
export const DEFAULT_CATALOGUE = [
  "services:read",
  "services:write",
  "services:exec",
  "logs:read",
  "metrics:read",
  "billing:read",
  "billing:write",
  "domains:write",
  "registry:push",
  "projects:read",
  "projects:write",
  "usage:read",
  "keys:read",
  "keys:write",
  "keys:verify",
  "audit:read",
  "webhooks:read",
  "webhooks:write",
  "keys:report",
] as const;

/** Staff-only scope: never in a role's access, only added by the staff flag. */
export const ADMIN_SCOPE = "admin:*";

/**
 * Privileges of the platform's own services, never of a role: verifying any tenant's keys
 * and following every key's revocations (`keys:verify`), learning what became of each key a
 * leak report named (`keys:report`, for a trusted scanner). Staff have them; staff grant them
 * to a service account (the user's `service` flag).
 */
export const SERVICE_SCOPES: readonly string[] = ["keys:verify", "keys:report"];

export const ROLES = ["owner", "member", "viewer"] as const;
export type Role = (typeof ROLES)[number];

export interface Access {
  role: Role;
  isStaff: boolean;
  /** A staff-designated service account: gets SERVICE_SCOPES. */
  isService?: boolean;
}

const SCOPE = /^[a-z][a-z0-9_-]{0,31}:(\*|[a-z][a-z0-9_-]{0,31})$/;

export class ScopeCatalogue {
  readonly scopes: readonly string[];
  private readonly known: ReadonlySet<string>;
  private readonly roleAccess: ReadonlyMap<Role, ReadonlySet<string>>;
  private readonly serviceScopes: readonly string[];

  constructor(scopes: readonly string[] = DEFAULT_CATALOGUE) {
    for (const scope of scopes) {
      if (!SCOPE.test(scope) || scope.endsWith(":*"))
        throw new TypeError(`bad scope in catalogue: ${scope}`);
    }
    this.scopes = [...new Set(scopes)];
    this.known = new Set(this.scopes);
    const tenant = this.scopes.filter((s) => !SERVICE_SCOPES.includes(s));
    const all = new Set(tenant);
    const readOnly = new Set(tenant.filter((s) => s.endsWith(":read") || s === "keys:write"));
    const member = new Set(tenant.filter((s) => s !== "billing:write"));
    this.serviceScopes = this.scopes.filter((s) => SERVICE_SCOPES.includes(s));
    this.roleAccess = new Map<Role, ReadonlySet<string>>([
      ["owner", all],
      ["member", member],
      ["viewer", readOnly],
    ]);
  }

  /** Whether a grant names something real: a catalogue scope, `resource:*`, `*` or `admin:*`. */
  isKnownGrant(grant: string): boolean {
    if (grant === "*" || grant === ADMIN_SCOPE) return true;
    if (grant.endsWith(":*")) {
      const resource = grant.slice(0, -1);
      return this.scopes.some((s) => s.startsWith(resource));
    }
    return this.known.has(grant);
  }

  unknownGrants(grants: readonly string[]): string[] {
    return grants.filter((g) => !this.isKnownGrant(g));
  }

  /**
   * Everything a user may do: their role's scopes; the service scopes for staff and service
   * accounts; `admin:*` for staff.
   */
  accessOf(access: Access): ReadonlySet<string> {
    const base = this.roleAccess.get(access.role) ?? new Set<string>();
    if (!access.isStaff && !access.isService) return base;
    const extra = access.isStaff ? [...this.serviceScopes, ADMIN_SCOPE] : this.serviceScopes;
    return new Set([...base, ...extra]);
  }

  /** Expands grants into concrete scopes, within `universe` (the owner's access). */
  expand(grants: readonly string[], universe: ReadonlySet<string>): Set<string> {
    const out = new Set<string>();
    for (const grant of grants) {
      if (grant === "*") {
        for (const scope of universe) out.add(scope);
      } else if (grant === ADMIN_SCOPE) {
        if (universe.has(ADMIN_SCOPE)) out.add(ADMIN_SCOPE);
      } else if (grant.endsWith(":*")) {
        const resource = grant.slice(0, -1);
        for (const scope of universe) if (scope.startsWith(resource)) out.add(scope);
      } else if (universe.has(grant)) {
        out.add(grant);
      }
    }
    return out;
  }

  /** Grants asked for that the owner's access cannot cover (for `scope_not_grantable`). */
  ungrantable(grants: readonly string[], access: ReadonlySet<string>): string[] {
    const everything = new Set([...this.scopes, ADMIN_SCOPE]);
    return grants.filter((grant) => {
      const wanted = this.expand([grant], everything);
      if (grant === "*") return false; // `*` means "whatever the owner may do"
      for (const scope of wanted) if (!access.has(scope)) return true;
      return false;
    });
  }

  /** The effective scopes of a key: its grants ∩ its owner's current access, sorted. */
  effective(grants: readonly string[], access: ReadonlySet<string>): string[] {
    return [...this.expand(grants, access)].sort();
  }

  /**
   * Whether `next` only narrows `current`: every concrete scope `next` could ever
   * reach, under any access, is reachable by `current` too.
   */
  isNarrowing(current: readonly string[], next: readonly string[]): boolean {
    const everything = new Set([...this.scopes, ADMIN_SCOPE]);
    const before = this.expand(current, everything);
    if (next.includes("*") && !current.includes("*")) return false;
    for (const scope of this.expand(next, everything)) if (!before.has(scope)) return false;
    return true;
  }
}

export function hasAll(
  effective: ReadonlySet<string> | readonly string[],
  required: readonly string[],
): boolean {
  const set = effective instanceof Set ? effective : new Set(effective);
  return required.every((scope) => set.has(scope));
}
