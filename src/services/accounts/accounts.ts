import { LatchkeyError } from "../../core/errors.js";
import { newId } from "../../infra/ids.js";
import { DuplicateError, type UserRow } from "../../store/port.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import type { MailOutbox } from "../mail/outbox.js";
import type { EmailVerification } from "./email-verification.js";
import type { LoginSessions, RequestMeta } from "./login.js";
import type { LoginThrottle, SignInReservation } from "./login-throttle.js";
import { refuseWeakPassword } from "./password-rules.js";
import type { SessionTokens } from "./sessions.js";
import { userOf, type User } from "./users.js";

export type { RequestMeta } from "./login.js";

export interface LoginInput {
  email: string;
  password: string;
  code?: string | undefined;
  backupCode?: string | undefined;
  /** From a 429 `rate_limited` answer, once its `retry_after` has passed. */
  waitTicket?: string | undefined;
}

/**
 * The second factor, when an account has one: given to Accounts at construction (the 2FA
 * service implements it), so that accounts stay ignorant of TOTP details.
 */
export interface SecondFactor {
  isEnabled(userId: string): Promise<boolean>;
  /** Verifies a code sent with the password; throws `invalid_mfa_code` / `too_many_attempts`. */
  verifyLoginCode(
    userId: string,
    input: { code?: string | undefined; backupCode?: string | undefined },
    meta: RequestMeta,
  ): Promise<void>;
  /** Verifies a code sent with a password-reset confirmation; throws like verifyLoginCode. */
  verifyResetCode(
    userId: string,
    input: { code?: string | undefined; backupCode?: string | undefined },
    meta: RequestMeta,
  ): Promise<void>;
  /** Verifies a code sent to reauthenticate (step-up); throws like verifyLoginCode. */
  verifyReauthenticationCode(
    userId: string,
    input: { code?: string | undefined; backupCode?: string | undefined },
    meta: RequestMeta,
  ): Promise<void>;
  /** A short-lived single-use token for `POST /v1/auth/login/mfa`. */
  issueMfaToken(userId: string, meta: RequestMeta): Promise<string>;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export class Accounts {
  private dummyHash: Promise<string>;

  constructor(
    private readonly deps: Deps,
    private readonly logins: LoginSessions,
    private readonly audit: AuditLog,
    private readonly throttle: LoginThrottle,
    private readonly secondFactor: SecondFactor | null,
    /** Signup mails the verification link through the outbox, in the signup's transaction. */
    private readonly mail: { verification: EmailVerification; outbox: MailOutbox } | null = null,
    /** Whether the user has passkeys: the second step may then be a passkey (SPEC §9). */
    private readonly passkeys: { count(userId: string): Promise<number> } | null = null,
    /** Told of each failed or throttled sign-in (the `login.failed_burst` webhook); never awaited. */
    private readonly onSignInFailed: (email: string, ip: string | null) => void = () => undefined,
  ) {
    // Verified against when the email is unknown, so both answers take the same time.
    this.dummyHash = deps.passwords.hash("latchkey-timing-equaliser");
  }

  async signup(input: { email: string; password: string }, meta: RequestMeta): Promise<User> {
    const email = normalizeEmail(input.email);
    await refuseWeakPassword(this.deps, input.password, email, "password");
    const hash = await this.deps.passwords.hash(input.password);
    const now = this.deps.now();
    const id = newId(this.deps.random, "usr");
    try {
      const row = await this.deps.store.transaction(async (tx) => {
        // The first account on a fresh install is staff.
        const existing = await tx.users.any();
        const values: UserRow = {
          id,
          email,
          password_hash: hash,
          role: this.deps.config.defaultRole,
          is_staff: existing ? 0 : 1,
          is_service: 0,
          email_verified_at: null,
          plan: this.deps.config.defaultPlan,
          disabled: 0,
          leak_policy: "revoke",
          created_at: now,
          updated_at: now,
        };
        await tx.users.insert(values);
        await this.mail?.verification.issue(tx, { id, email });
        return values;
      });
      this.mail?.outbox.wake();
      await this.audit.record({ event: "signup", userId: id, actor: null, ip: meta.ip });
      return userOf(row);
    } catch (error) {
      if (error instanceof DuplicateError)
        throw new LatchkeyError("conflict", "an account with this email already exists");
      throw error;
    }
  }

  /** The attempt's reservation stands: it is the counted failure. */
  private async failed(
    reservation: SignInReservation,
    email: string,
    userId: string | null,
    meta: RequestMeta,
  ): Promise<never> {
    await this.audit.record({ event: "login_failed", userId, actor: null, ip: meta.ip });
    await reservation.failed(userId);
    this.onSignInFailed(email, meta.ip);
    throw new LatchkeyError("invalid_credentials", "email or password is incorrect");
  }

  /**
   * Checks email and password under the sign-in throttle (login-throttle.ts): the attempt's
   * slots are taken before the password is looked at, and the answers are the same, in about
   * the same time, for unknown emails. `waitTicket` is the one a back-off refusal handed out;
   * `signedIn` (a password change, a step-up) skips the account's back-off, as the session
   * already proves the caller, but not the other limits or the count.
   */
  async checkPassword(
    email: string,
    password: string,
    meta: RequestMeta,
    options: { waitTicket?: string | undefined; signedIn?: boolean } = {},
  ): Promise<string> {
    const reservation = await this.throttle.reserve(email, meta.ip, options).catch((error) => {
      // A throttled attempt is a failed one too, for the burst alert (not for the counts).
      if (error instanceof LatchkeyError && error.status === 429)
        this.onSignInFailed(email, meta.ip);
      throw error;
    });
    let row: UserRow | undefined;
    let matches: boolean;
    try {
      row = await this.deps.store.users.byEmail(email);
      const hash = row?.password_hash ?? (await this.dummyHash);
      matches = await this.deps.passwords.verify(hash, password);
    } catch (error) {
      // Not evaluated (the store failed): that is no failed guess.
      await reservation.giveBack();
      throw error;
    }
    if (!row || !matches || row.disabled === 1)
      return this.failed(reservation, email, row?.id ?? null, meta);
    await reservation.passed();
    return row.id;
  }

  async login(input: LoginInput, meta: RequestMeta): Promise<SessionTokens> {
    const email = normalizeEmail(input.email);
    const userId = await this.checkPassword(email, input.password, meta, {
      waitTicket: input.waitTicket,
    });
    const amr = ["pwd"];
    const factor = this.secondFactor;
    if (factor && (await factor.isEnabled(userId))) {
      if (input.code === undefined && input.backupCode === undefined) {
        const mfaToken = await factor.issueMfaToken(userId, meta);
        const methods = ["totp", "backup_code"];
        if (this.passkeys && (await this.passkeys.count(userId)) > 0) methods.push("passkey");
        throw new LatchkeyError("mfa_required", "a second factor is required", {
          mfa_token: mfaToken,
          methods,
        });
      }
      await factor.verifyLoginCode(
        userId,
        { code: input.code, backupCode: input.backupCode },
        meta,
      );
      amr.push("otp");
    }
    return this.logins.finish(userId, amr, meta);
  }
}
