import type { Kysely } from "kysely";
import { isUniqueViolation } from "../db.js";
import { DuplicateError, type ChallengeRow, type PasskeyRow, type PasskeyStore } from "../port.js";
import type { Database } from "../schema.js";

/** Passkeys and their ceremonies' challenges; every spend is a conditional write. */
export class KyselyPasskeys implements PasskeyStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Throws DuplicateError when the credential is registered already. */
  async insert(row: PasskeyRow): Promise<void> {
    try {
      await this.db.insertInto("passkeys").values(row).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new DuplicateError(error);
      throw error;
    }
  }

  listByUser(userId: string): Promise<PasskeyRow[]> {
    return this.db
      .selectFrom("passkeys")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
  }

  async countByUser(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom("passkeys")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  byCredentialId(credentialId: string): Promise<PasskeyRow | undefined> {
    return this.db
      .selectFrom("passkeys")
      .selectAll()
      .where("credential_id", "=", credentialId)
      .executeTakeFirst();
  }

  async rename(userId: string, id: string, name: string): Promise<boolean> {
    const result = await this.db
      .updateTable("passkeys")
      .set({ name })
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async remove(userId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("passkeys")
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async recordUse(id: string, previous: number, counter: number, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable("passkeys")
      .set({ counter, last_used_at: at })
      .where("id", "=", id)
      .where("counter", "=", previous)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async issueChallenge(row: ChallengeRow): Promise<void> {
    await this.db
      .deleteFrom("webauthn_challenges")
      .where("expires_at", "<", row.created_at)
      .execute();
    await this.db.insertInto("webauthn_challenges").values(row).execute();
  }

  async spendChallenge(challengeHash: string, at: number): Promise<ChallengeRow | undefined> {
    const row = await this.db
      .updateTable("webauthn_challenges")
      .set({ used_at: at })
      .where("challenge_hash", "=", challengeHash)
      .where("used_at", "is", null)
      .where("expires_at", ">", at)
      .returningAll()
      .executeTakeFirst();
    return row;
  }
}
