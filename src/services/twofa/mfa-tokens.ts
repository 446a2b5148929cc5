import { LatchkeyError } from "../../core/errors.js";
import type { RequestMeta } from "../accounts/accounts.js";
import type { Context } from "../context.js";
import { newSecret } from "../../infra/ids.js";
import { sha256 } from "../../infra/secrets.js";

export const MFA_TOKEN_TTL_MS = 5 * 60_000;

function invalidToken(): LatchkeyError {
  return new LatchkeyError("token_invalid", "mfa_token is not valid or was already used");
}

/**
 * The bridge between the password step and the code step of sign-in: opaque, stored
 * as SHA-256, bound to one user, 5 minutes, spent by the first successful code.
 */
export class MfaTokens {
  constructor(private readonly ctx: Context) {}

  async issue(userId: string, meta: RequestMeta): Promise<string> {
    const token = newSecret("mfa");
    const now = this.ctx.now();
    await this.ctx.db
      .deleteFrom("mfa_tokens")
      .where("user_id", "=", userId)
      .where("expires_at", "<=", now)
      .execute();
    await this.ctx.db
      .insertInto("mfa_tokens")
      .values({
        token_hash: sha256(token),
        user_id: userId,
        ip: meta.ip,
        created_at: now,
        expires_at: now + MFA_TOKEN_TTL_MS,
        used_at: null,
      })
      .execute();
    return token;
  }

  /** The user a live, unspent token belongs to; throws `token_invalid` / `token_expired`. */
  async userOf(token: string): Promise<string> {
    const row = await this.ctx.db
      .selectFrom("mfa_tokens")
      .innerJoin("users", "users.id", "mfa_tokens.user_id")
      .select(["mfa_tokens.user_id", "mfa_tokens.expires_at", "mfa_tokens.used_at", "disabled"])
      .where("token_hash", "=", sha256(token))
      .executeTakeFirst();
    if (!row || row.used_at !== null || row.disabled === 1) throw invalidToken();
    if (row.expires_at <= this.ctx.now())
      throw new LatchkeyError("token_expired", "mfa_token has expired; sign in again");
    return row.user_id;
  }

  /** Spends the token; only one caller can, however many race. */
  async spend(token: string): Promise<void> {
    const result = await this.ctx.db
      .updateTable("mfa_tokens")
      .set({ used_at: this.ctx.now() })
      .where("token_hash", "=", sha256(token))
      .where("used_at", "is", null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) throw invalidToken();
  }
}
