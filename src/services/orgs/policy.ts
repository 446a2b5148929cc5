import type { Environment } from "../../core/key-format.js";
import type { ScopeCatalogue } from "../../core/scopes.js";
import type { OrgRow } from "../../store/port.js";
import { parseIpAllow, type IpAllow } from "../keys/ip-allow.js";

/**
 * An organization's policies (issue 16), parsed once per read of its row. Each is null (or
 * false) where the organization sets none.
 */
export interface OrgPolicy {
  /** Keys it owns may live at most this long (epoch ms span). */
  maxKeyLifetimeMs: number | null;
  /** Members without two-factor cannot use the organization's resources. */
  require2fa: boolean;
  environments: ReadonlySet<Environment> | null;
  /** Every org key must also be used from these addresses. */
  ipAllow: IpAllow | null;
  /** Grants, as stored: the organization's access is the catalogue's within them. */
  allowedScopes: string[] | null;
}

export const NO_POLICY: OrgPolicy = {
  maxKeyLifetimeMs: null,
  require2fa: false,
  environments: null,
  ipAllow: null,
  allowedScopes: null,
};

export function policyOf(row: OrgRow): OrgPolicy {
  const ipAllow = row.ip_allow === null ? null : parseIpAllow(JSON.parse(row.ip_allow) as string[]);
  return {
    maxKeyLifetimeMs: row.max_key_lifetime_ms === null ? null : Number(row.max_key_lifetime_ms),
    require2fa: row.require_2fa === 1,
    environments:
      row.allowed_environments === null
        ? null
        : new Set(JSON.parse(row.allowed_environments) as Environment[]),
    // A stored list that no longer parses admits no address rather than every one.
    ipAllow: Array.isArray(ipAllow) ? (parseIpAllow([]) as IpAllow) : ipAllow,
    allowedScopes:
      row.allowed_scopes === null ? null : (JSON.parse(row.allowed_scopes) as string[]),
  };
}

/** Whether the policy lets an organization's key of this environment be minted or used. */
export function allowsEnvironment(policy: OrgPolicy, environment: Environment): boolean {
  return policy.environments === null || policy.environments.has(environment);
}

/** The organization's access: every tenant scope (an owner's), within its allowed scopes. */
export function orgAccessOf(catalogue: ScopeCatalogue, policy: OrgPolicy): ReadonlySet<string> {
  const all = catalogue.accessOf({ role: "owner", isStaff: false });
  if (policy.allowedScopes === null) return all;
  return catalogue.expand(policy.allowedScopes, all);
}
