import type { OrgRole } from "../core/org-roles.js";
import type { UserAccess } from "./accounts/users.js";

/** Who a request acts as, once its credential is checked: a session or an API key. */
export interface Principal {
  type: "session" | "api_key";
  user: UserAccess;
  sessionId: string | null;
  amr: string[];
  /**
   * A session's `auth_time` (epoch ms): when the person last signed in or reauthenticated.
   * Absent for an API key, which never proves a person (see http/step-up.ts).
   */
  authTime?: number;
  key: {
    id: string;
    environment: "live" | "test";
    projectId: string | null;
    /** The key's own end (epoch ms), when known: a token exchanged for it ends no later. */
    expiresAt?: number | null;
  } | null;
  /**
   * Set for a token exchanged for an API key (`POST /v1/keys/exchange`): it acts as that key
   * with the token's scopes, but never mints keys, exchanges again or passes for a session.
   */
  exchanged?: true;
  /** Effective scopes: for a session the user's access; for a key its scopes ∩ that access. */
  scopes: ReadonlySet<string>;
  /**
   * Set when a member acts in an organization (the `Latchkey-Org` header, issue 16): `user` is
   * then the organization's account and `scopes` the member's share; this names the member.
   */
  member?: { userId: string; role: OrgRole } | undefined;
}
