import { isOrgRole, roleAccess, type OrgRole } from "../../core/org-roles.js";
import type { Settled } from "../../core/settled.js";
import type { UserAccess } from "../accounts/users.js";
import type { Deps } from "../deps.js";

/** What an organization's key needs of the member who minted it, at every check. */
export interface Creator {
  /** Their role while a member; null once they are not (the key is the organization's alone). */
  role: OrgRole | null;
  has2fa: boolean;
  /** Their share of the organization's access, memoised per access object (Users replaces it). */
  memo: { access: ReadonlySet<string>; universe: ReadonlySet<string> } | null;
}

const NOTHING: ReadonlySet<string> = new Set();
const CACHE_LIMIT = 50_000;

/**
 * The access an organization's key may use: the organization's (its policy's allowed scopes
 * within the catalogue) and, while its creator is a member, their role's share of it, nothing
 * while they lack the two-factor the organization requires. A person's key: the person's.
 */
export function keyUniverse(owner: UserAccess, creator: Creator | null): ReadonlySet<string> {
  if (creator === null || creator.role === null || owner.org === undefined) return owner.access;
  if (creator.memo?.access === owner.access) return creator.memo.universe;
  const universe =
    owner.org.policy.require2fa && !creator.has2fa
      ? NOTHING
      : roleAccess(creator.role, owner.access);
  creator.memo = { access: owner.access, universe };
  return universe;
}

/**
 * Members' roles as the hot path reads them for organizations' keys: cached, dropped when the
 * bus says the organization or the member changed (here at once, elsewhere through Redis), and
 * read again whenever a key is re-read after its change version moved (`fresh`), so a demotion
 * or removal holds on every instance as soon as the key's version is bumped.
 */
export class KeyCreators {
  private readonly byOrg = new Map<string, Map<string, Creator>>();
  private size = 0;
  private generation = 0;

  constructor(private readonly deps: Deps) {
    deps.bus.subscribe((event) => {
      if (event.type !== "user_changed") return;
      this.generation += 1;
      const org = this.byOrg.get(event.userId);
      if (org) {
        this.size -= org.size;
        this.byOrg.delete(event.userId);
      }
      for (const members of this.byOrg.values()) if (members.delete(event.userId)) this.size -= 1;
    });
  }

  get(orgId: string, userId: string, fresh = false): Settled<Creator> {
    const known = fresh ? undefined : this.byOrg.get(orgId)?.get(userId);
    return known ?? this.load(orgId, userId);
  }

  private async load(orgId: string, userId: string): Promise<Creator> {
    const generation = this.generation;
    const { orgs } = this.deps.store;
    const [member, has2fa] = await Promise.all([
      orgs.membership(orgId, userId),
      orgs.has2fa(userId),
    ]);
    const creator: Creator = {
      role: member && isOrgRole(member.role) ? member.role : null,
      has2fa,
      memo: null,
    };
    if (generation !== this.generation) return creator;
    if (this.size >= CACHE_LIMIT) {
      this.byOrg.clear();
      this.size = 0;
    }
    let members = this.byOrg.get(orgId);
    if (!members) this.byOrg.set(orgId, (members = new Map()));
    if (!members.has(userId)) this.size += 1;
    members.set(userId, creator);
    return creator;
  }
}
