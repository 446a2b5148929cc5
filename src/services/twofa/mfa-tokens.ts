import { LatchkeyError } from "../../core/errors.js";
import { newSecret } from "../../infra/ids.js";
import { sha256 } from "../../infra/secrets.js";
import type { RequestMeta } from "../accounts/login.js";
import type { Deps } from "../deps.js";

export const MFA_TOKEN_TTL_MS = 5 * 60_000;

function invalidToken(): LatchkeyError {
  return new LatchkeyError("token_invalid", "mfa_token is not valid or was already used");
}

/**
 * The bridge between the password step and the code step of sign-in: opaque, stored
 * as SHA-256, bound to one user, 5 minutes, spent by the first successful code.
 */
export class MfaTokens {
  constructor(private readonly deps: Deps) {}

  async issue(userId: string, meta: RequestMeta): Promise<string> {
    const token = newSecret(this.deps.random, "mfa");
    const now = this.deps.now();
    await this.deps.store.twofa.issueMfaToken({
      token_hash: sha256(token),
      user_id: userId,
      ip: meta.ip,
      created_at: now,
      expires_at: now + MFA_TOKEN_TTL_MS,
      used_at: null,
    });
    return token;
  }

  /** The user a live, unspent token belongs to; throws `token_invalid` / `token_expired`. */
  async userOf(token: string): Promise<string> {
    const row = await this.deps.store.twofa.mfaToken(sha256(token));
    if (!row || row.used_at !== null || row.disabled === 1) throw invalidToken();
    if (row.expires_at <= this.deps.now())
      throw new LatchkeyError("token_expired", "mfa_token has expired; sign in again");
    return row.user_id;
  }

  /** Spends the token; only one caller can, however many race. */
  async spend(token: string): Promise<void> {
    if (!(await this.deps.store.twofa.spendMfaToken(sha256(token), this.deps.now())))
      throw invalidToken();
  }
}
