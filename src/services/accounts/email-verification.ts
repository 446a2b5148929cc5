import { LatchkeyError, tooManyAttempts } from "../../core/errors.js";
import { newSecret } from "../../infra/ids.js";
import { sha256 } from "../../infra/secrets.js";
import { DuplicateError, type Store } from "../../store/port.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import type { MailOutbox } from "../mail/outbox.js";
import {
  changeEmailMail,
  emailChangeNoticeMail,
  portalLink,
  verifyEmailMail,
} from "../mail/templates.js";
import { normalizeEmail } from "./accounts.js";
import type { RequestMeta } from "./login.js";
import { spendableToken } from "./one-time-tokens.js";

/** A verification link lives 24 hours (SPEC §9). */
export const VERIFY_TTL_MS = 24 * 3_600_000;
/** Re-sent verification mails (and email-change requests) per account per LATCHKEY_LOGIN_WINDOW. */
const RESENDS_PER_WINDOW = 5;

/**
 * Proof of the account's address: signup mails a single-use link (`/verify-email?token=`),
 * stored as SHA-256 only; the link proves the address it was sent to and nothing else.
 */
export class EmailVerification {
  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
    private readonly outbox: MailOutbox,
  ) {}

  /** Inside the transaction that creates (or re-mails) the account: a new link supersedes older ones. */
  async issue(tx: Store, user: { id: string; email: string }): Promise<void> {
    const now = this.deps.now();
    const token = newSecret(this.deps.random, "lkv");
    await tx.accountTokens.deleteExpired(user.id, now);
    await tx.accountTokens.supersede(user.id, "verify_email", now);
    await tx.accountTokens.insert({
      token_hash: sha256(token),
      user_id: user.id,
      purpose: "verify_email",
      email: user.email,
      created_at: now,
      expires_at: now + VERIFY_TTL_MS,
      used_at: null,
    });
    const url = portalLink(this.deps.config.publicUrl, "verify-email", token);
    await this.outbox.enqueue(tx, "verify_email", verifyEmailMail(user.email, url));
  }

  /**
   * `POST /v1/auth/email/verify`: spends the link and marks the address verified — or, for a
   * link mailed by an email change, moves the account to the address it was mailed to.
   */
  async verify(
    token: string,
    meta: RequestMeta,
  ): Promise<{ userId: string; email: string; changedFrom: string | null }> {
    const tokenHash = sha256(token);
    const row = await spendableToken(
      this.deps,
      tokenHash,
      ["verify_email", "change_email"],
      "verification link",
    );
    const user = await this.deps.store.users.byId(row.user_id);
    if (!user) throw invalidLink();
    if (row.purpose === "change_email") return this.changeTo(row.email, user, tokenHash, meta);
    // A link proves the address it was mailed to, not whatever the account holds now.
    if (user.email !== row.email) throw invalidLink();
    const now = this.deps.now();
    const spent = await this.deps.store.transaction(async (tx) => {
      if (!(await tx.accountTokens.spend(tokenHash, now))) return false;
      if (user.email_verified_at === null)
        await tx.users.update(user.id, { email_verified_at: now, updated_at: now });
      return true;
    });
    if (!spent) throw invalidLink();
    await this.deps.bus.publish({ type: "user_changed", userId: user.id });
    await this.audit.record({
      event: "email_verified",
      userId: user.id,
      actor: null,
      ip: meta.ip,
      details: { email: user.email },
    });
    return { userId: user.id, email: user.email, changedFrom: null };
  }

  /**
   * `POST /v1/auth/email` (step-up): mails a link to `newEmail` that moves the account there
   * once opened (proving the new address), and a notice without a link to the current one.
   */
  async requestChange(
    user: { id: string; email: string },
    newEmail: string,
    meta: RequestMeta,
    actor: string,
  ): Promise<{ email: string }> {
    const email = normalizeEmail(newEmail);
    if (email === user.email)
      throw new LatchkeyError("conflict", "that is already the account's email address");
    const { windowMs } = this.deps.config.login;
    const hit = await this.deps.limiter.hit(`verify:user:${user.id}`, windowMs);
    if (hit.count > RESENDS_PER_WINDOW)
      throw tooManyAttempts("too many verification mails asked for; try again later", hit.resetMs);
    if (await this.deps.store.users.byEmail(email))
      throw new LatchkeyError("conflict", "another account has that email address");
    const now = this.deps.now();
    const token = newSecret(this.deps.random, "lkv");
    await this.deps.store.transaction(async (tx) => {
      await tx.accountTokens.deleteExpired(user.id, now);
      // Only the newest change request counts.
      await tx.accountTokens.supersede(user.id, "change_email", now);
      await tx.accountTokens.insert({
        token_hash: sha256(token),
        user_id: user.id,
        purpose: "change_email",
        email,
        created_at: now,
        expires_at: now + VERIFY_TTL_MS,
        used_at: null,
      });
      const url = portalLink(this.deps.config.publicUrl, "verify-email", token);
      await this.outbox.enqueue(tx, "change_email", changeEmailMail(email, url));
      await this.outbox.enqueue(
        tx,
        "email_change_notice",
        emailChangeNoticeMail(user.email, email),
      );
    });
    this.outbox.wake();
    await this.audit.record({
      event: "email_change_requested",
      userId: user.id,
      actor,
      ip: meta.ip,
      details: { new_email: email },
    });
    return { email };
  }

  private async changeTo(
    email: string,
    user: { id: string; email: string },
    tokenHash: string,
    meta: RequestMeta,
  ): Promise<{ userId: string; email: string; changedFrom: string }> {
    const now = this.deps.now();
    let spent: boolean;
    try {
      spent = await this.deps.store.transaction(async (tx) => {
        if (!(await tx.accountTokens.spend(tokenHash, now))) return false;
        await tx.users.update(user.id, { email, email_verified_at: now, updated_at: now });
        // Links mailed to the old address (verification, reset) prove it, not the new one.
        await tx.accountTokens.supersede(user.id, "verify_email", now);
        await tx.accountTokens.supersede(user.id, "password_reset", now);
        return true;
      });
    } catch (error) {
      if (error instanceof DuplicateError)
        throw new LatchkeyError("conflict", "another account took that email address meanwhile");
      throw error;
    }
    if (!spent) throw invalidLink();
    await this.deps.bus.publish({ type: "user_changed", userId: user.id });
    await this.audit.record({
      event: "email_changed",
      userId: user.id,
      actor: null,
      ip: meta.ip,
      details: { from: user.email, to: email },
    });
    return { userId: user.id, email, changedFrom: user.email };
  }

  /** A new link for a signed-in, unverified account; throttled per account. */
  async resend(user: { id: string; email: string }, meta: RequestMeta, actor: string) {
    const row = await this.deps.store.users.byId(user.id);
    if (!row) throw new LatchkeyError("not_found", "no such user");
    if (row.email_verified_at !== null)
      throw new LatchkeyError("conflict", "this email address is already verified");
    const { windowMs } = this.deps.config.login;
    const hit = await this.deps.limiter.hit(`verify:user:${user.id}`, windowMs);
    if (hit.count > RESENDS_PER_WINDOW)
      throw tooManyAttempts("too many verification mails asked for; try again later", hit.resetMs);
    await this.deps.store.transaction((tx) => this.issue(tx, { id: row.id, email: row.email }));
    this.outbox.wake();
    await this.audit.record({
      event: "email_verification_sent",
      userId: user.id,
      actor,
      ip: meta.ip,
    });
  }
}

function invalidLink(): LatchkeyError {
  return new LatchkeyError(
    "token_invalid",
    "this verification link is not valid or was already used",
  );
}
