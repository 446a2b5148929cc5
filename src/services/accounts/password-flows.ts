import { LatchkeyError, tooManyAttempts } from "../../core/errors.js";
import { newSecret } from "../../infra/ids.js";
import { sha256 } from "../../infra/secrets.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import type { MailOutbox } from "../mail/outbox.js";
import { passwordChangedMail, passwordResetMail, portalLink } from "../mail/templates.js";
import { normalizeEmail, type Accounts, type SecondFactor } from "./accounts.js";
import type { RequestMeta } from "./login.js";
import type { LoginThrottle } from "./login-throttle.js";
import { spendableToken } from "./one-time-tokens.js";
import { refuseWeakPassword } from "./password-rules.js";

/** A reset link lives 30 minutes (SPEC §9). */
export const RESET_TTL_MS = 30 * 60_000;

export interface ResetConfirmInput {
  token: string;
  newPassword: string;
  code?: string | undefined;
  backupCode?: string | undefined;
}

/**
 * Changing a known password and resetting a forgotten one (SPEC §9). Both end sessions
 * (refresh-token families) in the same transaction as the new hash, and mail a notice
 * through the outbox in that transaction too.
 */
export class PasswordFlows {
  /** Reset requests answered but not yet written (see requestReset). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: Deps,
    private readonly accounts: Accounts,
    private readonly audit: AuditLog,
    private readonly outbox: MailOutbox,
    private readonly secondFactor: SecondFactor | null,
    private readonly throttle: LoginThrottle,
  ) {}

  /**
   * `POST /v1/auth/password`: the current password is checked as sign-in checks it (the same
   * throttles and answer); every other session of the user ends, `keepSessionId` stays.
   */
  async change(
    user: { id: string; email: string },
    keepSessionId: string,
    input: { currentPassword: string; newPassword: string },
    meta: RequestMeta,
    actor: string,
  ): Promise<{ sessionsEnded: number }> {
    await this.accounts.checkPassword(user.email, input.currentPassword, meta, { signedIn: true });
    await refuseWeakPassword(this.deps, input.newPassword, user.email, "new_password");
    if (input.newPassword === input.currentPassword)
      throw new LatchkeyError(
        "invalid_request",
        "the new password must differ from the current one",
        {
          details: [{ field: "new_password", message: "must differ from the current password" }],
        },
      );
    const hash = await this.deps.passwords.hash(input.newPassword);
    const now = this.deps.now();
    const ended = await this.deps.store.transaction(async (tx) => {
      await tx.users.update(user.id, { password_hash: hash, updated_at: now });
      const ended = await tx.sessions.endAllOf(user.id, now, "password_changed", keepSessionId);
      await this.outbox.enqueue(tx, "password_changed", passwordChangedMail(user.email, "changed"));
      return ended;
    });
    await this.afterCommit(ended);
    await this.audit.record({
      event: "password_changed",
      userId: user.id,
      actor,
      ip: meta.ip,
      details: { sessions_ended: ended.length },
    });
    return { sessionsEnded: ended.length };
  }

  /**
   * `POST /v1/auth/password/reset`: the same answer whether or not the email has an account.
   * Past the throttles (which count unknown emails like real ones), the answer does not wait
   * for the rest: the lookup, the token and the transaction that stores it with its mail run
   * after it, the same work either way, so no database time shows in the answer (and the mail
   * leaves through the outbox later still). Shutdown waits for them (`drain`).
   */
  async requestReset(rawEmail: string, meta: RequestMeta): Promise<void> {
    const email = normalizeEmail(rawEmail);
    await this.throttleReset(email, meta.ip);
    const work = this.issueReset(email, meta).catch((error: unknown) =>
      this.deps.logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        "password reset request not stored",
      ),
    );
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /** Reset requests accepted but not yet stored are stored (graceful shutdown; tests). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async issueReset(email: string, meta: RequestMeta): Promise<void> {
    const row = await this.deps.store.users.byEmail(email);
    const user = row && row.disabled === 0 ? row : null;
    const token = newSecret(this.deps.random, "lkp");
    const tokenHash = sha256(token);
    const now = this.deps.now();
    await this.deps.store.transaction(async (tx) => {
      // The user's row locked (PostgreSQL) so racing requests supersede one another in turn:
      // at most one link is live.
      if (user) await tx.users.planForUpdate(user.id);
      // A new link supersedes the older ones (for an unknown email: the same statement, no rows).
      await tx.accountTokens.supersede(user?.id ?? "", "password_reset", now);
      await tx.accountTokens.deleteExpired(user?.id ?? "", now);
      if (!user) return;
      await tx.accountTokens.insert({
        token_hash: tokenHash,
        user_id: user.id,
        purpose: "password_reset",
        email: user.email,
        created_at: now,
        expires_at: now + RESET_TTL_MS,
        used_at: null,
      });
      const url = portalLink(this.deps.config.publicUrl, "reset-password", token);
      await this.outbox.enqueue(tx, "password_reset", passwordResetMail(user.email, url));
    });
    if (user) this.outbox.wake();
    await this.audit.record({
      event: "password_reset_requested",
      userId: user?.id ?? null,
      actor: null,
      ip: meta.ip,
    });
  }

  private async throttleReset(email: string, ip: string | null): Promise<void> {
    const { limiter, config } = this.deps;
    const { windowMs } = config.login;
    const [perEmail, perIp] = await Promise.all([
      limiter.hit(`reset:email:${email}`, windowMs),
      ip ? limiter.hit(`reset:ip:${ip}`, windowMs) : Promise.resolve(null),
    ]);
    const overEmail = perEmail.count > config.reset.maxPerEmail;
    const overIp = perIp !== null && perIp.count > config.reset.maxPerIp;
    if (overEmail || overIp) {
      const wait = Math.max(overEmail ? perEmail.resetMs : 0, overIp ? perIp.resetMs : 0);
      throw tooManyAttempts("too many password reset requests; try again later", wait);
    }
  }

  /**
   * `POST /v1/auth/password/reset/confirm`. With 2FA on, a TOTP or backup code is required
   * too: a mailbox alone must not take over the account. A refusal before the new password
   * is stored (weak password, missing or wrong code) leaves the link unspent, so the owner
   * can retry within its 30 minutes; wrong codes count towards the 2FA lockout.
   */
  async confirmReset(
    input: ResetConfirmInput,
    meta: RequestMeta,
  ): Promise<{ sessionsEnded: number }> {
    const tokenHash = sha256(input.token);
    const token = await spendableToken(this.deps, tokenHash, "password_reset", "reset link");
    const user = await this.deps.store.users.byId(token.user_id);
    if (!user || user.disabled === 1 || user.email !== token.email)
      throw new LatchkeyError("token_invalid", "this reset link is not valid or was already used");
    await refuseWeakPassword(this.deps, input.newPassword, user.email, "new_password");
    const hasTwoFactor = await this.checkSecondFactor(user.id, input, meta);
    const hash = await this.deps.passwords.hash(input.newPassword);
    const now = this.deps.now();
    const ended = await this.deps.store.transaction(async (tx) => {
      if (!(await tx.accountTokens.spend(tokenHash, now))) return null;
      await tx.accountTokens.supersede(user.id, "password_reset", now);
      // The link reached this address: that proves it as a verification link would.
      await tx.users.update(user.id, {
        password_hash: hash,
        updated_at: now,
        email_verified_at: user.email_verified_at ?? now,
      });
      const ended = await tx.sessions.endAllOf(user.id, now, "password_reset", null);
      await this.outbox.enqueue(tx, "password_changed", passwordChangedMail(user.email, "reset"));
      return ended;
    });
    if (ended === null)
      throw new LatchkeyError("token_invalid", "this reset link is not valid or was already used");
    await this.afterCommit(ended);
    await this.deps.bus.publish({ type: "user_changed", userId: user.id });
    // The owner proved the mailbox (and the second factor): failed sign-ins start afresh,
    // and a password-sign-in suspension ends.
    await this.throttle.clear(user.email);
    await this.audit.record({
      event: "password_reset",
      userId: user.id,
      actor: null,
      ip: meta.ip,
      details: { sessions_ended: ended.length, second_factor: hasTwoFactor },
    });
    return { sessionsEnded: ended.length };
  }

  /** With 2FA on, a code must come with the reset (refused unspent otherwise); whether it is on. */
  private async checkSecondFactor(
    userId: string,
    input: ResetConfirmInput,
    meta: RequestMeta,
  ): Promise<boolean> {
    const factor = this.secondFactor;
    if (factor === null || !(await factor.isEnabled(userId))) return false;
    if (input.code === undefined && input.backupCode === undefined)
      throw new LatchkeyError(
        "mfa_required",
        "two-factor authentication is on: send `code` (or `backup_code`) with the new password",
      );
    await factor.verifyResetCode(userId, { code: input.code, backupCode: input.backupCode }, meta);
    return true;
  }

  /** Access tokens of the ended sessions stop working on every instance at once. */
  private async afterCommit(endedSessions: string[]): Promise<void> {
    this.outbox.wake();
    for (const sessionId of endedSessions)
      await this.deps.bus.publish({ type: "session_ended", sessionId });
  }
}
