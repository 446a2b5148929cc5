import { LatchkeyError } from "../core/errors.js";
import type { RequestMeta } from "./accounts.js";
import type { AuditLog } from "./audit.js";
import type { Context } from "./context.js";

/** SPEC §5: after 10 consecutive failed codes, second-factor sign-in pauses 15 minutes. */
export const MAX_FAILED_CODES = 10;
export const LOCK_MS = 15 * 60_000;
/** Failures count as consecutive until a success; a day without one starts afresh. */
const FAILURE_MEMORY_MS = 24 * 60 * 60_000;

const failKey = (userId: string) => `2fa:fail:${userId}`;
const lockKey = (userId: string) => `2fa:lock:${userId}`;

/**
 * Counts failed second-factor codes per account through the limiter (Redis when
 * configured, so every instance sees one count) and pauses the account's 2FA.
 */
export class CodeLockout {
  constructor(
    private readonly ctx: Context,
    private readonly audit: AuditLog,
  ) {}

  /** Throws 429 `too_many_attempts` while the account is paused. */
  async assertOpen(userId: string): Promise<void> {
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

  async failed(
    userId: string,
    meta: RequestMeta,
    actor: string | null,
    details: Record<string, unknown>,
  ): Promise<void> {
    const { count } = await this.ctx.limiter.hit(failKey(userId), FAILURE_MEMORY_MS);
    await this.audit.record({ event: "2fa_failed_code", userId, actor, ip: meta.ip, details });
    if (count < MAX_FAILED_CODES) return;
    // A fresh 15-minute window from the 10th failure (not from the first one).
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

  async succeeded(userId: string): Promise<void> {
    await this.ctx.limiter.reset(failKey(userId));
  }
}
