import type { Deps } from "../deps.js";
import { KEY_WINDOW_MS, keyWindow, type CheckResult } from "./check.js";

/**
 * Rate-limit leases: a verifier that caches a key's answer spends the key's budget for its
 * cached hits in advance, asking `POST /v1/keys/verify` for up to `lease` more uses.
 *
 * - Never over: a lease is counted in the key's window before it is granted, and only what
 *   still fits under the limit is kept (the rest is given back). The verifier spends leased
 *   uses only until the window resets.
 * - At most 10 % under: uses leased and not yet reported used (`POST /v1/keys/usage`) are
 *   counted in a second window per key, and leases stop while that reaches a tenth of the
 *   limit, so unused leases — on any number of verifiers, idle or gone — hold back at most
 *   that. Each lease is also at most a tenth of what remains, so leases shrink near the limit.
 */
export interface Lease {
  granted: number;
  /** Epoch milliseconds when the key's window resets: unused uses lapse then. */
  reset: number;
  /** Milliseconds from now until then. */
  resetIn: number;
}

/** A lease is at most this share of what remains in the window. */
export const LEASE_SHARE_OF_REMAINING = 0.1;
/** Leased uses not yet reported used stay under this share of the limit. */
export const OUTSTANDING_SHARE_OF_LIMIT = 0.1;

export interface LeaseAsk {
  limit: number;
  /** Uses counted in the key's window, the asking call included. */
  used: number;
  /** Leased uses not yet reported used, on every verifier. */
  outstanding: number;
  requested: number;
}

/** How many uses to lease: a tenth of what remains, within what may be out at once. */
export function leaseSize({ limit, used, outstanding, requested }: LeaseAsk): number {
  const ofRemaining = Math.floor((limit - used) * LEASE_SHARE_OF_REMAINING);
  const room = outstandingCap(limit) - outstanding;
  return Math.max(0, Math.min(Math.floor(requested), ofRemaining, room));
}

export function outstandingCap(limit: number): number {
  return Math.floor(limit * OUTSTANDING_SHARE_OF_LIMIT);
}

/**
 * Of `taken` uses just added to a counter that now reads `count`, how many fit under `cap`
 * (others may have added theirs at the same time): the rest must be given back.
 */
export function fitUnder(cap: number, count: number, taken: number): number {
  return Math.max(0, Math.min(taken, cap - (count - taken)));
}

export class KeyLeases {
  constructor(private readonly deps: Deps) {}

  /**
   * Leases uses of the key `result` admitted (only a `valid` answer, which already spent the
   * call itself): never more than fits under its limit. Reads the result before any await.
   */
  async grant(result: CheckResult, requested: number): Promise<Lease> {
    const now = this.deps.now();
    const { key, ratelimit } = result;
    const none: Lease = {
      granted: 0,
      reset: ratelimit?.reset ?? now,
      resetIn: Math.max(0, (ratelimit?.reset ?? now) - now),
    };
    if (result.code !== "valid" || !key || !ratelimit) return none;
    // Credits and named limits are spent only by the server, call by call (see README).
    if (key.budget !== null) return none;
    const { limit } = ratelimit;
    const leased = `lease:${key.id}`;
    const cap = outstandingCap(limit);
    const peeked = await this.deps.limiter.peek(leased);
    const wanted = leaseSize({
      limit,
      used: limit - ratelimit.remaining,
      outstanding: peeked.count,
      requested,
    });
    if (wanted === 0) return none;
    // Reserve in the outstanding count first: concurrent grants cannot together pass its cap.
    const reserved = await this.deps.limiter.hit(leased, KEY_WINDOW_MS, wanted);
    const allowed = fitUnder(cap, reserved.count, wanted);
    if (allowed < wanted) await this.deps.limiter.release(leased, wanted - allowed);
    if (allowed === 0) return none;
    const spent = await this.deps.limiter.spend(
      keyWindow(key.id),
      KEY_WINDOW_MS,
      key.hash,
      allowed,
    );
    const granted = fitUnder(limit, spent.count, allowed);
    if (granted < allowed) {
      await this.deps.limiter.release(keyWindow(key.id), allowed - granted);
      await this.deps.limiter.release(leased, allowed - granted);
    }
    const at = this.deps.now();
    return { granted, reset: at + spent.resetMs, resetIn: spent.resetMs };
  }

  /**
   * Reported cached hits spent leased uses: they are out on lease no more, so more may be
   * leased. Only hits from the current window are given back — a late report of the last
   * window's hits must not make room that this window's leases still hold (when unsure,
   * keep: that only leases less).
   */
  async settle(keyId: string, hits: readonly { count: number; firstAt: number }[]): Promise<void> {
    const leased = `lease:${keyId}`;
    const window = await this.deps.limiter.peek(leased);
    if (window.count === 0) return;
    const start = this.deps.now() + window.resetMs - KEY_WINDOW_MS;
    const used = hits.reduce((sum, hit) => (hit.firstAt >= start ? sum + hit.count : sum), 0);
    if (used > 0) await this.deps.limiter.release(leased, used);
  }
}
