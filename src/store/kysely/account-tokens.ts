import type { Kysely } from "kysely";
import type { AccountTokenPurpose, AccountTokenRow, AccountTokenStore } from "../port.js";
import type { Database } from "../schema.js";

export class KyselyAccountTokens implements AccountTokenStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: AccountTokenRow): Promise<void> {
    await this.db.insertInto("account_tokens").values(row).execute();
  }

  byHash(tokenHash: string): Promise<AccountTokenRow | undefined> {
    return this.db
      .selectFrom("account_tokens")
      .selectAll()
      .where("token_hash", "=", tokenHash)
      .executeTakeFirst();
  }

  async spend(tokenHash: string, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable("account_tokens")
      .set({ used_at: at })
      .where("token_hash", "=", tokenHash)
      .where("used_at", "is", null)
      .where("expires_at", ">", at)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async supersede(userId: string, purpose: AccountTokenPurpose, at: number): Promise<void> {
    await this.db
      .updateTable("account_tokens")
      .set({ used_at: at })
      .where("user_id", "=", userId)
      .where("purpose", "=", purpose)
      .where("used_at", "is", null)
      .execute();
  }

  async deleteExpired(userId: string, now: number): Promise<void> {
    await this.db
      .deleteFrom("account_tokens")
      .where("user_id", "=", userId)
      .where("expires_at", "<", now)
      .execute();
  }
}
