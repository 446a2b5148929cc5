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
  key: { id: string; environment: "live" | "test"; projectId: string | null } | null;
  /** Effective scopes: for a session the user's access; for a key its scopes ∩ that access. */
  scopes: ReadonlySet<string>;
}
