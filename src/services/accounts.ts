import { LatchkeyError } from "../core/errors.js";
import { checkPassword, PASSWORD_MESSAGES } from "../core/passwords.js";
import { isUniqueViolation } from "../store/db.js";
import type { AuditLog } from "./audit.js";
import type { Context } from "./context.js";
import { HashPool } from "./hash-pool.js";
import { newId } from "./ids.js";
import type { Sessions, TokenPair } from "./sessions.js";
import { toPublicUser, type PublicUser } from "./users.js";

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
}

export interface LoginInput {
  email: string;
  password: string;
  code?: string | undefined;
  backupCode?: string | undefined;
}

/**
 * The second factor, when an account has one. Installed by the 2FA service so that
 * accounts stay ignorant of TOTP details.
 */
export interface SecondFactor {
  isEnabled(userId: string): Promise<boolean>;
  /** Verifies a code sent with the password; throws `invalid_mfa_code` / `too_many_attempts`. */
  verifyLoginCode(
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
  private readonly passwords = new HashPool();
  private dummyHash: Promise<string>;
  secondFactor: SecondFactor | null = null;

  constructor(
    private readonly ctx: Context,
    private readonly sessions: Sessions,
    private readonly audit: AuditLog,
  ) {
    // Verified against when the email is unknown, so both answers take the same time.
    this.dummyHash = this.passwords.hash("latchkey-timing-equaliser");
  }

  async signup(input: { email: string; password: string }, meta: RequestMeta): Promise<PublicUser> {
    const email = normalizeEmail(input.email);
    const problem = checkPassword(input.password, email);
    if (problem) {
      throw new LatchkeyError("invalid_request", PASSWORD_MESSAGES[problem], {
        details: [{ field: "password", message: PASSWORD_MESSAGES[problem] }],
      });
    }
    const hash = await this.passwords.hash(input.password);
    const now = this.ctx.now();
    const id = newId("usr");
    try {
      const row = await this.ctx.db.transaction().execute(async (trx) => {
        // The first account on a fresh install is staff.
        const existing = await trx.selectFrom("users").select("id").limit(1).executeTakeFirst();
        const values = {
          id,
          email,
          password_hash: hash,
          role: this.ctx.config.defaultRole,
          is_staff: existing ? 0 : 1,
          is_service: 0,
          plan: this.ctx.config.defaultPlan,
          disabled: 0,
          created_at: now,
          updated_at: now,
        };
        await trx.insertInto("users").values(values).execute();
        return values;
      });
      await this.audit.record({ event: "signup", userId: id, actor: null, ip: meta.ip });
      return toPublicUser(row);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new LatchkeyError("conflict", "an account with this email already exists");
      throw error;
    }
  }

  private async throttled(email: string, ip: string | null): Promise<void> {
    const { limiter, config } = this.ctx;
    const [account, address] = await Promise.all([
      limiter.peek(`login:acct:${email}`),
      ip ? limiter.peek(`login:ip:${ip}`) : Promise.resolve({ count: 0, resetMs: 0 }),
    ]);
    const blocked = [
      account.count >= config.login.maxFailuresPerAccount ? account.resetMs : 0,
      address.count >= config.login.maxFailuresPerIp ? address.resetMs : 0,
    ];
    const wait = Math.max(...blocked);
    if (wait > 0) {
      const retryAfter = Math.max(1, Math.ceil(wait / 1000));
      throw new LatchkeyError(
        "too_many_attempts",
        "too many failed sign-in attempts; try again later",
        { retry_after: retryAfter },
        retryAfter,
      );
    }
  }

  private async failed(email: string, userId: string | null, meta: RequestMeta): Promise<never> {
    const { limiter, config } = this.ctx;
    await Promise.all([
      limiter.hit(`login:acct:${email}`, config.login.windowMs),
      meta.ip ? limiter.hit(`login:ip:${meta.ip}`, config.login.windowMs) : Promise.resolve(),
    ]);
    await this.audit.record({ event: "login_failed", userId, actor: null, ip: meta.ip });
    throw new LatchkeyError("invalid_credentials", "email or password is incorrect");
  }

  /** Checks email and password; the same answer, in about the same time, for unknown emails. */
  async checkPassword(email: string, password: string, meta: RequestMeta): Promise<string> {
    await this.throttled(email, meta.ip);
    const row = await this.ctx.db
      .selectFrom("users")
      .select(["id", "password_hash", "disabled"])
      .where("email", "=", email)
      .executeTakeFirst();
    const hash = row?.password_hash ?? (await this.dummyHash);
    const matches = await this.passwords.verify(hash, password);
    if (!row || !matches || row.disabled === 1) return this.failed(email, row?.id ?? null, meta);
    await this.ctx.limiter.reset(`login:acct:${email}`);
    return row.id;
  }

  async login(input: LoginInput, meta: RequestMeta): Promise<TokenPair> {
    const email = normalizeEmail(input.email);
    const userId = await this.checkPassword(email, input.password, meta);
    const amr = ["pwd"];
    const factor = this.secondFactor;
    if (factor && (await factor.isEnabled(userId))) {
      if (input.code === undefined && input.backupCode === undefined) {
        const mfaToken = await factor.issueMfaToken(userId, meta);
        throw new LatchkeyError("mfa_required", "a second factor is required", {
          mfa_token: mfaToken,
        });
      }
      await factor.verifyLoginCode(
        userId,
        { code: input.code, backupCode: input.backupCode },
        meta,
      );
      amr.push("otp");
    }
    return this.finishLogin(userId, amr, meta);
  }

  /** Starts the session once every factor has passed. */
  async finishLogin(userId: string, amr: string[], meta: RequestMeta): Promise<TokenPair> {
    const pair = await this.sessions.start({ userId, amr, ip: meta.ip, userAgent: meta.userAgent });
    await this.audit.record({ event: "login", userId, actor: null, ip: meta.ip, details: { amr } });
    return pair;
  }
}
