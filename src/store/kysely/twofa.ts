import type { Kysely } from "kysely";
import type {
  BackupCodeRow,
  MfaTokenLookup,
  MfaTokenRow,
  TotpFactorRow,
  TwoFactorStore,
} from "../port.js";
import type { Database } from "../schema.js";
import type { Transact } from "./index.js";

/** Every claim is a conditional UPDATE, so a code or token works once however requests race. */
export class KyselyTwoFactor implements TwoFactorStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly transact: Transact,
  ) {}

  factor(userId: string): Promise<TotpFactorRow | undefined> {
    return this.db
      .selectFrom("totp_factors")
      .selectAll()
      .where("user_id", "=", userId)
      .executeTakeFirst();
  }

  anyFactor(): Promise<TotpFactorRow | undefined> {
    return this.db.selectFrom("totp_factors").selectAll().limit(1).executeTakeFirst();
  }

  async putPending(userId: string, sealed: string, now: number): Promise<boolean> {
    const result = await this.db
      .insertInto("totp_factors")
      .values({
        user_id: userId,
        secret_ciphertext: sealed,
        enabled_at: null,
        last_used_step: null,
        created_at: now,
      })
      .onConflict((oc) =>
        oc
          .column("user_id")
          .doUpdateSet({ secret_ciphertext: sealed, last_used_step: null, created_at: now })
          .where("totp_factors.enabled_at", "is", null),
      )
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async enable(userId: string, sealed: string, step: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable("totp_factors")
      .set({ enabled_at: now, last_used_step: step })
      .where("user_id", "=", userId)
      .where("enabled_at", "is", null)
      // A setup that replaced this secret meanwhile must not be enabled by the old code.
      .where("secret_ciphertext", "=", sealed)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async lockEnabled(userId: string): Promise<boolean> {
    // Touching the row locks it on both engines (a no-op write).
    const result = await this.db
      .updateTable("totp_factors")
      .set((eb) => ({ created_at: eb.ref("created_at") }))
      .where("user_id", "=", userId)
      .where("enabled_at", "is not", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async claimStep(userId: string, step: number): Promise<boolean> {
    const result = await this.db
      .updateTable("totp_factors")
      .set({ last_used_step: step })
      .where("user_id", "=", userId)
      .where("enabled_at", "is not", null)
      .where((eb) => eb.or([eb("last_used_step", "is", null), eb("last_used_step", "<", step)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async useBackupCode(userId: string, codeHashes: readonly string[], at: number): Promise<boolean> {
    if (codeHashes.length === 0) return false;
    const result = await this.db
      .updateTable("backup_codes")
      .set({ used_at: at })
      .where("user_id", "=", userId)
      .where("code_hash", "in", codeHashes)
      .where("used_at", "is", null)
      .executeTakeFirst();
    // Two stored hashes of one code (under two keys) cannot both be in one set of codes.
    return Number(result.numUpdatedRows) >= 1;
  }

  async unusedBackupCodes(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom("backup_codes")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("user_id", "=", userId)
      .where("used_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async replaceBackupCodes(userId: string, rows: BackupCodeRow[]): Promise<void> {
    await this.db.deleteFrom("backup_codes").where("user_id", "=", userId).execute();
    if (rows.length > 0) await this.db.insertInto("backup_codes").values(rows).execute();
  }

  remove(userId: string): Promise<void> {
    return this.transact(async (trx) => {
      await trx.deleteFrom("backup_codes").where("user_id", "=", userId).execute();
      await trx.deleteFrom("totp_factors").where("user_id", "=", userId).execute();
    });
  }

  async issueMfaToken(row: MfaTokenRow): Promise<void> {
    await this.db
      .deleteFrom("mfa_tokens")
      .where("user_id", "=", row.user_id)
      .where("expires_at", "<=", row.created_at)
      .execute();
    await this.db.insertInto("mfa_tokens").values(row).execute();
  }

  mfaToken(tokenHash: string): Promise<MfaTokenLookup | undefined> {
    return this.db
      .selectFrom("mfa_tokens")
      .innerJoin("users", "users.id", "mfa_tokens.user_id")
      .select(["mfa_tokens.user_id", "mfa_tokens.expires_at", "mfa_tokens.used_at", "disabled"])
      .where("token_hash", "=", tokenHash)
      .executeTakeFirst();
  }

  async spendMfaToken(tokenHash: string, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable("mfa_tokens")
      .set({ used_at: at })
      .where("token_hash", "=", tokenHash)
      .where("used_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
