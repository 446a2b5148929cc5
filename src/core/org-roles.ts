/**
 * Roles in an organization (issue 16, SPEC §10), in one table: what each may use or grant of
 * the organization's access (`scopes`), and what each may do to the organization itself
 * (`can`). A member's keys in the organization, and the organization's keys they minted, are
 * narrowed to their role at every check. Staff stays a platform-wide flag, outside this.
 */
export const ORG_ROLES = ["owner", "admin", "member", "viewer"] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

export function isOrgRole(value: unknown): value is OrgRole {
  return typeof value === "string" && (ORG_ROLES as readonly string[]).includes(value);
}

/** What a role may do to the organization, beside the scopes it uses. */
export type OrgAction =
  /** Delete the organization. */
  | "delete"
  /** Make someone an owner, change or remove an owner. */
  | "manage_owners"
  /** Invite, change the role of and remove admins, members and viewers. */
  | "manage_members"
  /** Rename, set policies. */
  | "configure"
  /** Read the organization's audit log. */
  | "read_audit"
  /** Edit, disable, rotate and revoke keys other members minted. */
  | "manage_all_keys";

interface RoleRow {
  /** Which of the organization's scopes the role has. */
  scopes: (scope: string) => boolean;
  can: readonly OrgAction[];
}

const everything = () => true;
const reads = (scope: string) => scope.endsWith(":read");

export const ORG_ROLE_TABLE: Readonly<Record<OrgRole, RoleRow>> = {
  owner: {
    scopes: everything,
    can: [
      "delete",
      "manage_owners",
      "manage_members",
      "configure",
      "read_audit",
      "manage_all_keys",
    ],
  },
  admin: {
    scopes: everything,
    can: ["manage_members", "configure", "read_audit", "manage_all_keys"],
  },
  // Everything but paying and the organization's webhook endpoints; keys:write only on the
  // keys they minted (manage_all_keys).
  member: { scopes: (scope) => scope !== "billing:write" && scope !== "webhooks:write", can: [] },
  // Reading, and minting read-only keys of their own (keys:write, as a platform viewer).
  viewer: { scopes: (scope) => reads(scope) || scope === "keys:write", can: [] },
};

/** The role's share of `orgAccess` (the organization's access under its policy). */
export function roleAccess(role: OrgRole, orgAccess: ReadonlySet<string>): ReadonlySet<string> {
  const row = ORG_ROLE_TABLE[role];
  return new Set([...orgAccess].filter(row.scopes));
}

export function roleCan(role: OrgRole, action: OrgAction): boolean {
  return ORG_ROLE_TABLE[role].can.includes(action);
}
