import { randomBytes } from "node:crypto";
import QRCode from "qrcode";
import { LatchkeyError } from "../core/errors.js";
import {
  BACKUP_CODE_COUNT,
  decodeBase32,
  encodeBase32,
  formatBackupCode,
  looksLikeTotpCode,
  matchTotpStep,
  normalizeBackupCode,
  TOTP_SECRET_BYTES,
  totpKeyUri,
} from "../core/totp.js";
import type { Accounts, RequestMeta, SecondFactor } from "./accounts.js";
import type { AuditLog } from "./audit.js";
import type { Context } from "./context.js";
import { newId, newSecret } from "./ids.js";
import { sha256 } from "./secrets.js";
import type { TokenPair } from "./sessions.js";

/** SPEC §5: after 10 consecutive failed codes, second-factor sign-in pauses 15 minutes. */
export const MAX_FAILED_CODES = 10;
export const LOCK_MS = 15 * 60_000;
/** Failures count as consecutive until a success; a day without one starts afresh. */
const FAILURE_MEMORY_MS = 24 * 60 * 60_000;
export const MFA_TOKEN_TTL_MS = 5 * 60_000;

export interface CodeInput {
  code?: string | undefined;
  backupCode?: string | undefined;
}

/** Where a code was offered: named in audit events. */
export type CodePurpose = "login" | "disable" | "backup_codes";

export interface SetupResult {
  secret: string;
  otpauth_url: string;
  qr_svg: string;
}

export interface TwoFactorStatus {
  enabled: boolean;
  enabled_at: string | null;
  pending: boolean;
  backup_codes_remaining: number;
}

const failKey = (userId: string) => `2fa:fail:${userId}`;
const lockKey = (userId: string) => `2fa:lock:${userId}`;

function invalidCode(): LatchkeyError {
  return new LatchkeyError("invalid_mfa_code", "the code is wrong, expired or already used");
}

/**
 * TOTP enrolment, backup codes and the second step of sign-in. Every accepted TOTP
 * step and backup code is claimed by a conditional UPDATE, so a code works once even
 * when requests race, on SQLite and PostgreSQL alike.
 */
export class TwoFactor implements SecondFactor {
  constructor(
    private readonly ctx: Context,
    private readonly audit: AuditLog,
    private readonly accounts: Accounts,
  ) {}

  /** A new pending secret; replaces a pending one, refuses when 2FA is already on. */
  async setup(user: { id: string; email: string }): Promise<SetupResult> {
    const secret = encodeBase32(randomBytes(TOTP_SECRET_BYTES));
    const sealed = this.ctx.box.seal(secret, `totp:${user.id}`);
    const now = this.ctx.now();
    const result = await this.ctx.db
      .insertInto("totp_factors")
      .values({
        user_id: user.id,
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
    if (Number(result.numInsertedOrUpdatedRows ?? 0) !== 1)
      throw new LatchkeyError("conflict", "two-factor authentication is already enabled");
    const url = totpKeyUri(this.ctx.config.totpIssuer, user.email, secret);
    const svg = await QRCode.toString(url, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
    return { secret, otpauth_url: url, qr_svg: svg };
  }

  /** Confirms the pending secret with a first code; returns the backup codes, shown this once. */
  async verify(userId: string, code: string, meta: RequestMeta, actor: string): Promise<string[]> {
    const factor = await this.factor(userId);
    if (factor?.enabled_at != null)
      throw new LatchkeyError("conflict", "two-factor authentication is already enabled");
    if (!factor)
      throw new LatchkeyError(
        "conflict",
        "no two-factor setup is pending; call POST /v1/auth/2fa/setup first",
      );
    const step = matchTotpStep(
      this.secretOf(userId, factor.secret_ciphertext),
      code,
      this.ctx.now(),
    );
    if (step === null) throw invalidCode();
    const codes = await this.ctx.db.transaction().execute(async (trx) => {
      const enabled = await trx
        .updateTable("totp_factors")
        .set({ enabled_at: this.ctx.now(), last_used_step: step })
        .where("user_id", "=", userId)
        .where("enabled_at", "is", null)
        // A setup that replaced this secret meanwhile must not be enabled by the old code.
        .where("secret_ciphertext", "=", factor.secret_ciphertext)
        .executeTakeFirst();
      if (Number(enabled.numUpdatedRows) !== 1) return null;
      return this.replaceBackupCodes(trx, userId);
    });
    if (!codes)
      throw new LatchkeyError("conflict", "the pending setup changed; start again with setup");
    await this.ctx.limiter.reset(failKey(userId));
    await this.audit.record({ event: "2fa_enabled", userId, actor, ip: meta.ip });
    return codes;
  }

  async status(userId: string): Promise<TwoFactorStatus> {
    const factor = await this.factor(userId);
    const enabledAt = factor?.enabled_at ?? null;
    let remaining = 0;
    if (enabledAt !== null) {
      const row = await this.ctx.db
        .selectFrom("backup_codes")
        .select((eb) => eb.fn.countAll<number | string>().as("n"))
        .where("user_id", "=", userId)
        .where("used_at", "is", null)
        .executeTakeFirstOrThrow();
      remaining = Number(row.n);
    }
    return {
      enabled: enabledAt !== null,
      enabled_at: enabledAt === null ? null : new Date(enabledAt).toISOString(),
      pending: factor !== undefined && enabledAt === null,
      backup_codes_remaining: remaining,
    };
  }

  /** Turns 2FA off with a current TOTP code or a backup code. */
  async disable(userId: string, input: CodeInput, meta: RequestMeta, actor: string): Promise<void> {
    await this.checkCode(userId, input, meta, "disable", actor);
    await this.ctx.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("backup_codes").where("user_id", "=", userId).execute();
      await trx.deleteFrom("totp_factors").where("user_id", "=", userId).execute();
    });
    await this.audit.record({ event: "2fa_disabled", userId, actor, ip: meta.ip });
  }

  /** A fresh set of backup codes; the old set stops working in the same transaction. */
  async regenerateBackupCodes(
    userId: string,
    input: CodeInput,
    meta: RequestMeta,
    actor: string,
  ): Promise<string[]> {
    await this.checkCode(userId, input, meta, "backup_codes", actor);
    const codes = await this.ctx.db.transaction().execute(async (trx) => {
      // Touching the factor row locks it, so two racing regenerations leave one set, not two.
      const locked = await trx
        .updateTable("totp_factors")
        .set((eb) => ({ created_at: eb.ref("created_at") }))
        .where("user_id", "=", userId)
        .where("enabled_at", "is not", null)
        .executeTakeFirst();
      if (Number(locked.numUpdatedRows) !== 1) return null;
      return this.replaceBackupCodes(trx, userId);
    });
    if (!codes) throw new LatchkeyError("conflict", "two-factor authentication is not enabled");
    await this.audit.record({ event: "backup_codes_regenerated", userId, actor, ip: meta.ip });
    return codes;
  }

  // ---- sign-in (the SecondFactor port of Accounts) ----

  async isEnabled(userId: string): Promise<boolean> {
    return (await this.factor(userId))?.enabled_at != null;
  }

  async verifyLoginCode(userId: string, input: CodeInput, meta: RequestMeta): Promise<void> {
    await this.checkCode(userId, input, meta, "login", null);
  }

  async issueMfaToken(userId: string, meta: RequestMeta): Promise<string> {
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

  /** `POST /v1/auth/login/mfa`: the MFA token from the password step plus a code. */
  async completeLogin(mfaToken: string, input: CodeInput, meta: RequestMeta): Promise<TokenPair> {
    if ((input.code === undefined) === (input.backupCode === undefined))
      throw new LatchkeyError("invalid_request", "send either `code` or `backup_code`", {
        details: [{ field: "code", message: "send either `code` or `backup_code`" }],
      });
    const hash = sha256(mfaToken);
    const row = await this.ctx.db
      .selectFrom("mfa_tokens")
      .innerJoin("users", "users.id", "mfa_tokens.user_id")
      .select(["mfa_tokens.user_id", "mfa_tokens.expires_at", "mfa_tokens.used_at", "disabled"])
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    if (!row || row.used_at !== null || row.disabled === 1)
      throw new LatchkeyError("token_invalid", "mfa_token is not valid or was already used");
    if (row.expires_at <= this.ctx.now())
      throw new LatchkeyError("token_expired", "mfa_token has expired; sign in again");
    await this.checkCode(row.user_id, input, meta, "login", null);
    const claimed = await this.ctx.db
      .updateTable("mfa_tokens")
      .set({ used_at: this.ctx.now() })
      .where("token_hash", "=", hash)
      .where("used_at", "is", null)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1)
      throw new LatchkeyError("token_invalid", "mfa_token is not valid or was already used");
    return this.accounts.finishLogin(row.user_id, ["pwd", "otp"], meta);
  }

  // ---- internals ----

  private async factor(userId: string) {
    return this.ctx.db
      .selectFrom("totp_factors")
      .select(["secret_ciphertext", "enabled_at"])
      .where("user_id", "=", userId)
      .executeTakeFirst();
  }

  private secretOf(userId: string, sealed: string): Uint8Array {
    const key = decodeBase32(this.ctx.box.open(sealed, `totp:${userId}`));
    if (!key) throw new Error("stored TOTP secret is not base32");
    return key;
  }

  /**
   * The one gate for a code on an enabled factor: lockout first, then the code, then
   * the failure count. A TOTP code is accepted only if its step is newer than the last
   * accepted one; a backup code only if this request is the one that marks it used.
   */
  private async checkCode(
    userId: string,
    input: CodeInput,
    meta: RequestMeta,
    purpose: CodePurpose,
    actor: string | null,
  ): Promise<void> {
    await this.assertNotLocked(userId);
    const factor = await this.factor(userId);
    if (factor?.enabled_at == null)
      throw new LatchkeyError("conflict", "two-factor authentication is not enabled");
    const offered = input.backupCode ?? input.code;
    if (offered === undefined)
      throw new LatchkeyError("invalid_request", "a code is required", {
        details: [{ field: "code", message: "required" }],
      });
    const isTotp = input.backupCode === undefined && looksLikeTotpCode(offered);
    const accepted = isTotp
      ? await this.acceptTotp(userId, factor.secret_ciphertext, offered.trim())
      : await this.consumeBackupCode(userId, offered);
    const method = isTotp ? "totp" : "backup_code";
    if (!accepted) return this.failed(userId, meta, purpose, method, actor);
    await this.ctx.limiter.reset(failKey(userId));
    if (!isTotp)
      await this.audit.record({
        event: "backup_code_used",
        userId,
        actor,
        ip: meta.ip,
        details: { purpose },
      });
  }

  private async acceptTotp(userId: string, sealed: string, code: string): Promise<boolean> {
    const step = matchTotpStep(this.secretOf(userId, sealed), code, this.ctx.now());
    if (step === null) return false;
    const result = await this.ctx.db
      .updateTable("totp_factors")
      .set({ last_used_step: step })
      .where("user_id", "=", userId)
      .where("enabled_at", "is not", null)
      .where((eb) => eb.or([eb("last_used_step", "is", null), eb("last_used_step", "<", step)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  private async consumeBackupCode(userId: string, offered: string): Promise<boolean> {
    const canonical = normalizeBackupCode(offered);
    if (canonical === null) return false;
    const result = await this.ctx.db
      .updateTable("backup_codes")
      .set({ used_at: this.ctx.now() })
      .where("user_id", "=", userId)
      .where("code_hash", "=", this.ctx.box.mac(canonical))
      .where("used_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  private async assertNotLocked(userId: string): Promise<void> {
    const lock = await this.ctx.limiter.peek(lockKey(userId));
    if (lock.count > 0 && lock.resetMs > 0) {
      const retryAfter = Math.max(1, Math.ceil(lock.resetMs / 1000));
      throw new LatchkeyError(
        "too_many_attempts",
        "too many failed codes; two-factor sign-in is paused, try again later",
        { retry_after: retryAfter },
        retryAfter,
      );
    }
  }

  private async failed(
    userId: string,
    meta: RequestMeta,
    purpose: CodePurpose,
    method: "totp" | "backup_code",
    actor: string | null,
  ): Promise<never> {
    const { count } = await this.ctx.limiter.hit(failKey(userId), FAILURE_MEMORY_MS);
    await this.audit.record({
      event: "2fa_failed_code",
      userId,
      actor,
      ip: meta.ip,
      details: { purpose, method },
    });
    if (count >= MAX_FAILED_CODES) {
      // A fresh 15-minute window from the 10th failure, shared by every instance via the limiter.
      await this.ctx.limiter.hit(lockKey(userId), LOCK_MS);
      await this.ctx.limiter.reset(failKey(userId));
      await this.audit.record({
        event: "2fa_locked",
        userId,
        actor,
        ip: meta.ip,
        details: { minutes: LOCK_MS / 60_000 },
      });
    }
    throw invalidCode();
  }

  private async replaceBackupCodes(
    trx: Pick<Context["db"], "deleteFrom" | "insertInto">,
    userId: string,
  ): Promise<string[]> {
    const now = this.ctx.now();
    const codes = Array.from({ length: BACKUP_CODE_COUNT }, () => formatBackupCode(randomBytes(8)));
    await trx.deleteFrom("backup_codes").where("user_id", "=", userId).execute();
    await trx
      .insertInto("backup_codes")
      .values(
        codes.map((code) => ({
          id: newId("bkc"),
          user_id: userId,
          code_hash: this.ctx.box.mac(normalizeBackupCode(code)!),
          created_at: now,
          used_at: null,
        })),
      )
      .execute();
    return codes;
  }
}
