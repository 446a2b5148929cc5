import { LatchkeyError, tooManyAttempts } from "../../core/errors.js";
import { newId } from "../../infra/ids.js";
import { DuplicateError, type UserRow } from "../../store/port.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import type { MailOutbox } from "../mail/outbox.js";
import type { EmailVerification } from "./email-verification.js";
import type { LoginSessions, RequestMeta } from "./login.js";
import { refuseWeakPassword } from "./password-rules.js";
import type { SessionTokens } from "./sessions.js";
import { userOf, type User } from "./users.js";

export type { RequestMeta } from "./login.js";

export interface LoginInput {
  email: string;
  password: string;
  code?: string | undefined;
  backupCode?: string | undefined;
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

/** An attempt's slots in the failed-login counters, taken before the password is checked. */
interface LoginReservation {
  /** The attempt was not evaluated after all: both slots back. */
  giveBack(): Promise<void>;
  /** The password was right: the account's count starts afresh, the address's slot comes back. */
  passed(): Promise<void>;
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
    private readonly secondFactor: SecondFactor | null,
    /** Signup mails the verification link through the outbox, in the signup's transaction. */
    private readonly mail: { verification: EmailVerification; outbox: MailOutbox } | null = null,
    /** Whether the user has passkeys: the second step may then be a passkey (SPEC §9). */
    private readonly passkeys: { count(userId: string): Promise<number> } | null = null,
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

  /**
   * Takes this attempt's slot in the account's and the address's failure counters before
   * the password is looked at: one atomic hit each, so however many requests arrive
   * before the first failure is counted, no more passwords are evaluated than the limits
   * allow. Over either limit the slots are given back (the counters count attempts
   * evaluated, not refused) and the attempt is refused unevaluated, with the same answer
   * whether or not the account exists. The caller settles the reservation: a failure
   * keeps it, a success resets the account's count and gives the address's slot back.
   */
  private async reserve(email: string, ip: string | null): Promise<LoginReservation> {
    const { limiter, config } = this.deps;
    const { windowMs, maxFailuresPerAccount, maxFailuresPerIp } = config.login;
    const accountKey = `login:acct:${email}`;
    const addressKey = ip ? `login:ip:${ip}` : null;
    const giveBack = async () => {
      await Promise.all([
        limiter.release(accountKey),
        addressKey ? limiter.release(addressKey) : Promise.resolve(),
      ]);
    };
    const [account, address] = await Promise.all([
      limiter.hit(accountKey, windowMs),
      addressKey ? limiter.hit(addressKey, windowMs) : Promise.resolve(null),
    ]);
    const overAccount = account.count > maxFailuresPerAccount;
    const overAddress = address !== null && address.count > maxFailuresPerIp;
    if (overAccount || overAddress) {
      await giveBack();
      const wait = Math.max(
        overAccount ? account.resetMs : 0,
        overAddress && address ? address.resetMs : 0,
      );
      throw tooManyAttempts("too many failed sign-in attempts; try again later", wait);
    }
    return {
      giveBack,
      async passed() {
        await Promise.all([
          limiter.reset(accountKey),
          addressKey ? limiter.release(addressKey) : Promise.resolve(),
        ]);
      },
    };
  }

  /** The attempt's reservation stands: it is the counted failure. */
  private async failed(userId: string | null, meta: RequestMeta): Promise<never> {
    await this.audit.record({ event: "login_failed", userId, actor: null, ip: meta.ip });
    throw new LatchkeyError("invalid_credentials", "email or password is incorrect");
  }

  /** Checks email and password; the same answer, in about the same time, for unknown emails. */
  async checkPassword(email: string, password: string, meta: RequestMeta): Promise<string> {
    const reservation = await this.reserve(email, meta.ip);
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
    if (!row || !matches || row.disabled === 1) return this.failed(row?.id ?? null, meta);
    await reservation.passed();
    return row.id;
  }

  async login(input: LoginInput, meta: RequestMeta): Promise<SessionTokens> {
    const email = normalizeEmail(input.email);
    const userId = await this.checkPassword(email, input.password, meta);
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
