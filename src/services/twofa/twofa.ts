import QRCode from "qrcode";
import { sessionOfActor } from "../../core/actor.js";
import { LatchkeyError } from "../../core/errors.js";
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
} from "../../core/totp.js";
import { newId } from "../../infra/ids.js";
import type { BackupCodeRow, Store } from "../../store/port.js";
import type { SecondFactor } from "../accounts/accounts.js";
import type { LoginSessions, RequestMeta } from "../accounts/login.js";
import { endOtherSessions, type SessionTokens } from "../accounts/sessions.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import { CodeLockout } from "./lockout.js";
import { MfaTokens } from "./mfa-tokens.js";

export interface CodeInput {
  code?: string | undefined;
  backupCode?: string | undefined;
}

/** Where a code was offered: named in audit events. */
export type CodePurpose =
  "login" | "disable" | "backup_codes" | "password_reset" | "reauthenticate";

/** A new pending TOTP secret, for the authenticator app; shown this once. */
export interface TotpSetup {
  /** Base32, for entering by hand. */
  secret: string;
  /** The `otpauth://totp/` key URI. */
  otpauthUrl: string;
  /** The key URI as an SVG QR code. */
  qrSvg: string;
}

/** Where a user's second factor stands. */
export interface TwoFactorState {
  enabled: boolean;
  /** When 2FA was turned on (epoch milliseconds); null while it is off. */
  enabledAt: number | null;
  /** A setup is waiting for its first code. */
  pending: boolean;
  /** Unused backup codes; 0 while 2FA is off. */
  backupCodesRemaining: number;
}

function invalidCode(): LatchkeyError {
  return new LatchkeyError("invalid_mfa_code", "the code is wrong, expired or already used");
}

/**
 * TOTP enrolment, backup codes and the second step of sign-in. Every accepted TOTP
 * step and backup code is claimed by a conditional UPDATE, so a code works once even
 * when requests race, on SQLite and PostgreSQL alike.
 */
export class TwoFactor implements SecondFactor {
  private readonly lockout: CodeLockout;
  private readonly mfaTokens: MfaTokens;

  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
    private readonly logins: LoginSessions,
  ) {
    this.lockout = new CodeLockout(deps, audit);
    this.mfaTokens = new MfaTokens(deps);
  }

  /** A new pending secret; replaces a pending one, refuses when 2FA is already on. */
  async setup(user: { id: string; email: string }): Promise<TotpSetup> {
    const secret = encodeBase32(this.deps.random.bytes(TOTP_SECRET_BYTES));
    const sealed = this.deps.box.seal(secret, `totp:${user.id}`);
    const now = this.deps.now();
    if (!(await this.deps.store.twofa.putPending(user.id, sealed, now)))
      throw new LatchkeyError("conflict", "two-factor authentication is already enabled");
    const url = totpKeyUri(this.deps.config.totpIssuer, user.email, secret);
    const svg = await QRCode.toString(url, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
    return { secret, otpauthUrl: url, qrSvg: svg };
  }

  /** Confirms the pending secret with a first code; returns the backup codes, shown this once. */
  /** `sessionId`: the caller's session, the one kept when the others end. */
  async verify(
    userId: string,
    code: string,
    meta: RequestMeta,
    actor: string,
    sessionId: string | null = null,
  ): Promise<string[]> {
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
      this.deps.now(),
    );
    if (step === null) throw invalidCode();
    const codes = await this.enableFactor(userId, factor.secret_ciphertext, step);
    if (!codes)
      throw new LatchkeyError("conflict", "the pending setup changed; start again with setup");
    await this.lockout.succeeded(userId);
    // Organizations that require two-factor (issue 16) let the member in from now on.
    await this.deps.bus.publish({ type: "user_changed", userId });
    // Sessions signed in with the password alone end: from now on signing in needs the code.
    const ended = await endOtherSessions(this.deps, userId, sessionId, "2fa_enabled");
    await this.audit.record({
      event: "2fa_enabled",
      userId,
      actor,
      ip: meta.ip,
      details: { sessions_ended: ended.length },
    });
    return codes;
  }

  async status(userId: string): Promise<TwoFactorState> {
    const factor = await this.factor(userId);
    const enabledAt = factor?.enabled_at ?? null;
    let remaining = 0;
    if (enabledAt !== null) {
      remaining = await this.deps.store.twofa.unusedBackupCodes(userId);
    }
    return {
      enabled: enabledAt !== null,
      enabledAt,
      pending: factor !== undefined && enabledAt === null,
      backupCodesRemaining: remaining,
    };
  }

  /** Turns 2FA off with a current TOTP code or a backup code. */
  async disable(
    userId: string,
    input: CodeInput,
    meta: RequestMeta,
    actor: string,
    sessionId: string | null = null,
  ): Promise<void> {
    await this.checkCode(userId, input, meta, "disable", actor);
    await this.deps.store.twofa.remove(userId);
    // Organizations that require two-factor (issue 16) keep the member out from now on.
    await this.deps.bus.publish({ type: "user_changed", userId });
    const ended = await endOtherSessions(this.deps, userId, sessionId, "2fa_disabled");
    await this.audit.record({
      event: "2fa_disabled",
      userId,
      actor,
      ip: meta.ip,
      details: { sessions_ended: ended.length },
    });
  }

  /** A fresh set of backup codes; the old set stops working in the same transaction. */
  async regenerateBackupCodes(
    userId: string,
    input: CodeInput,
    meta: RequestMeta,
    actor: string,
  ): Promise<string[]> {
    await this.checkCode(userId, input, meta, "backup_codes", actor);
    const codes = await this.deps.store.transaction(async (tx) => {
      // Locking the factor row first, so two racing regenerations leave one set, not two.
      if (!(await tx.twofa.lockEnabled(userId))) return null;
      return this.replaceBackupCodes(tx, userId);
    });
    if (!codes) throw new LatchkeyError("conflict", "two-factor authentication is not enabled");
    // New recovery codes (ASVS 7.4.3): every other session ends.
    const ended = await endOtherSessions(
      this.deps,
      userId,
      sessionOfActor(actor),
      "backup_codes_regenerated",
    );
    await this.audit.record({
      event: "backup_codes_regenerated",
      userId,
      actor,
      ip: meta.ip,
      details: { sessions_ended: ended.length },
    });
    return codes;
  }

  // ---- sign-in (the SecondFactor port of Accounts) ----

  async isEnabled(userId: string): Promise<boolean> {
    return (await this.factor(userId))?.enabled_at != null;
  }

  async verifyLoginCode(userId: string, input: CodeInput, meta: RequestMeta): Promise<void> {
    await this.checkCode(userId, input, meta, "login", null);
  }

  async verifyResetCode(userId: string, input: CodeInput, meta: RequestMeta): Promise<void> {
    await this.checkCode(userId, input, meta, "password_reset", null);
  }

  async verifyReauthenticationCode(
    userId: string,
    input: CodeInput,
    meta: RequestMeta,
  ): Promise<void> {
    await this.checkCode(userId, input, meta, "reauthenticate", null);
  }

  async issueMfaToken(userId: string, meta: RequestMeta): Promise<string> {
    return this.mfaTokens.issue(userId, meta);
  }

  /** `POST /v1/auth/login/mfa`: the MFA token from the password step plus a code. */
  async completeLogin(
    mfaToken: string,
    input: CodeInput,
    meta: RequestMeta,
  ): Promise<SessionTokens> {
    if ((input.code === undefined) === (input.backupCode === undefined))
      throw new LatchkeyError("invalid_request", "send either `code` or `backup_code`", {
        details: [{ field: "code", message: "send either `code` or `backup_code`" }],
      });
    const userId = await this.mfaTokens.userOf(mfaToken);
    await this.checkCode(userId, input, meta, "login", null);
    await this.mfaTokens.spend(mfaToken);
    return this.logins.finish(userId, ["pwd", "otp"], meta);
  }

  // ---- internals ----

  private factor(userId: string) {
    return this.deps.store.twofa.factor(userId);
  }

  /**
   * Enables the pending factor sealed as `sealed` and stores its backup codes; null when the
   * pending setup changed. A setup that replaced this secret meanwhile must not be enabled by
   * the old code, but the same secret re-sealed under a new master key (a rotation running
   * meanwhile) is the same setup: enabled under its new ciphertext.
   */
  private async enableFactor(userId: string, sealed: string, step: number) {
    const context = `totp:${userId}`;
    for (let attempt = 0; ; attempt += 1) {
      const codes = await this.deps.store.transaction(async (tx) => {
        if (!(await tx.twofa.enable(userId, sealed, step, this.deps.now()))) return null;
        return this.replaceBackupCodes(tx, userId);
      });
      if (codes || attempt > 0) return codes;
      const now = await this.factor(userId);
      if (now?.enabled_at !== null || now.secret_ciphertext === sealed) return null;
      const { box } = this.deps;
      if (box.open(now.secret_ciphertext, context) !== box.open(sealed, context)) return null;
      sealed = now.secret_ciphertext;
    }
  }

  private secretOf(userId: string, sealed: string): Uint8Array {
    const key = decodeBase32(this.deps.box.open(sealed, `totp:${userId}`));
    if (!key) throw new Error("stored TOTP secret is not base32");
    return key;
  }

  /**
   * The one gate for a code on an enabled factor: the request is checked, then the code
   * takes a slot in the failed-code count (429 while paused or when 10 codes are already
   * failed or being checked, the code not looked at), then the code is checked and the
   * slot settled. A TOTP code is accepted only if its step is newer than the last
   * accepted one; a backup code only if this request is the one that marks it used.
   */
  private async checkCode(
    userId: string,
    input: CodeInput,
    meta: RequestMeta,
    purpose: CodePurpose,
    actor: string | null,
  ): Promise<void> {
    const factor = await this.factor(userId);
    if (factor?.enabled_at == null)
      throw new LatchkeyError("conflict", "two-factor authentication is not enabled");
    const offered = input.backupCode ?? input.code;
    if (offered === undefined)
      throw new LatchkeyError("invalid_request", "a code is required", {
        details: [{ field: "code", message: "required" }],
      });
    const isTotp = input.backupCode === undefined && looksLikeTotpCode(offered);
    const slot = await this.lockout.reserve(userId);
    let accepted: boolean;
    try {
      accepted = isTotp
        ? await this.acceptTotp(userId, factor.secret_ciphertext, offered.trim())
        : await this.consumeBackupCode(userId, offered);
    } catch (error) {
      // Not checked (the store or the secret failed): that is no failed code.
      await this.lockout.giveBack(userId);
      throw error;
    }
    const method = isTotp ? "totp" : "backup_code";
    if (!accepted) {
      await this.lockout.failed(userId, slot, meta, actor, { purpose, method });
      throw invalidCode();
    }
    await this.lockout.succeeded(userId);
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
    const step = matchTotpStep(this.secretOf(userId, sealed), code, this.deps.now());
    if (step === null) return false;
    return this.deps.store.twofa.claimStep(userId, step);
  }

  private async consumeBackupCode(userId: string, offered: string): Promise<boolean> {
    const canonical = normalizeBackupCode(offered);
    if (canonical === null) return false;
    // A code made under an older master key is stored under that key's hash: each key's is tried.
    return this.deps.store.twofa.useBackupCode(
      userId,
      this.deps.box.macCandidates(canonical),
      this.deps.now(),
    );
  }

  private async replaceBackupCodes(tx: Store, userId: string): Promise<string[]> {
    const now = this.deps.now();
    const { random, box } = this.deps;
    const codes = Array.from({ length: BACKUP_CODE_COUNT }, () =>
      formatBackupCode(random.bytes(8)),
    );
    const rows: BackupCodeRow[] = codes.map((code) => ({
      id: newId(random, "bkc"),
      user_id: userId,
      code_hash: box.mac(normalizeBackupCode(code)!),
      created_at: now,
      used_at: null,
    }));
    await tx.twofa.replaceBackupCodes(userId, rows);
    return codes;
  }
}
