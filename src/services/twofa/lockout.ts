import { tooManyAttempts } from "../../core/errors.js";
import type { RequestMeta } from "../accounts/accounts.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";

/** SPEC §5: after 10 consecutive failed codes, second-factor sign-in pauses 15 minutes. */
export const MAX_FAILED_CODES = 10;
export const LOCK_MS = 15 * 60_000;
/** Each further pause doubles (30 min, 1 h, …) up to a day, so about 70 codes a day, then 10. */
export const MAX_LOCK_MS = 24 * 60 * 60_000;
/** Failures count as consecutive until a success; a day without one starts afresh. */
const FAILURE_MEMORY_MS = 24 * 60 * 60_000;
/** Pauses are remembered a week (or until a success) to size the next one. */
const PAUSE_MEMORY_MS = 7 * 24 * 60 * 60_000;

/** Slots taken in this run of failures: failed codes plus codes being checked now. */
const failKey = (userId: string) => `2fa:fail:${userId}`;
const lockKey = (userId: string) => `2fa:lock:${userId}`;
const pausesKey = (userId: string) => `2fa:pauses:${userId}`;

/** The pause after the `n`th run of 10 failures (1-based): 15 minutes, doubling, at most a day. */
export function pauseMs(n: number): number {
  return Math.min(MAX_LOCK_MS, LOCK_MS * 2 ** Math.min(Math.max(0, n - 1), 16));
}

const paused = (resetMs: number) =>
  tooManyAttempts("too many failed codes; two-factor sign-in is paused, try again later", resetMs);

/**
 * Counts failed second-factor codes per account through the limiter (Redis when
 * configured, so every instance sees one count) and pauses the account's 2FA.
 *
 * A code takes a numbered slot before it is checked (`reserve`: one atomic hit), so a
 * burst of codes that arrive together gets at most 10 checked, not every code that
 * arrives before the first failure is counted. Then exactly one of: `failed` (the slot
 * stands; the code in the 10th slot failing pauses the account), `succeeded` (the run
 * of failures starts afresh) or `giveBack` (the code was not checked after all).
 */
export class CodeLockout {
  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Takes a slot for one code and returns its number (1–10), or throws 429
   * `too_many_attempts` without one: while the account is paused, or when all 10 slots
   * are taken by failed codes and codes being checked.
   */
  async reserve(userId: string): Promise<number> {
    const { limiter } = this.deps;
    const { count } = await limiter.hit(failKey(userId), FAILURE_MEMORY_MS);
    // Read the pause after taking the slot: the pause is set before the slots are
    // cleared, so a slot taken after the clearing always sees it.
    const lock = await limiter.peek(lockKey(userId));
    const locked = lock.count > 0 && lock.resetMs > 0;
    if (!locked && count <= MAX_FAILED_CODES) return count;
    await limiter.release(failKey(userId));
    // All slots taken but no pause yet: the codes being checked hold the last ones, and
    // the pause the 10th sets if it fails is what this caller would wait for.
    throw paused(
      locked ? lock.resetMs : pauseMs((await limiter.peek(pausesKey(userId))).count + 1),
    );
  }

  /** The reserved code was not checked (a bad request, a conflict, an outage). */
  async giveBack(userId: string): Promise<void> {
    await this.deps.limiter.release(failKey(userId));
  }

  /** The code in `slot` was wrong: its slot stands, and the 10th pauses the account. */
  async failed(
    userId: string,
    slot: number,
    meta: RequestMeta,
    actor: string | null,
    details: Record<string, unknown>,
  ): Promise<void> {
    const { limiter } = this.deps;
    await this.audit.record({ event: "2fa_failed_code", userId, actor, ip: meta.ip, details });
    if (slot < MAX_FAILED_CODES) return;
    // A fresh pause from the 10th failure (not from the first one), longer each time. Set
    // before the slots are cleared (see reserve); the first to set it audits, once per pause.
    const pauses = await limiter.peek(pausesKey(userId));
    const length = pauseMs(pauses.count + 1);
    const lock = await limiter.hit(lockKey(userId), length);
    if (lock.count !== 1) return;
    await limiter.hit(pausesKey(userId), PAUSE_MEMORY_MS);
    await limiter.reset(failKey(userId));
    await this.audit.record({
      event: "2fa_locked",
      userId,
      actor,
      ip: meta.ip,
      details: { minutes: length / 60_000 },
    });
  }

  async succeeded(userId: string): Promise<void> {
    await Promise.all([
      this.deps.limiter.reset(failKey(userId)),
      this.deps.limiter.reset(pausesKey(userId)),
    ]);
  }
}
