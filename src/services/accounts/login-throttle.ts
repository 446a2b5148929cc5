import { timingSafeEqual } from "node:crypto";
import { LatchkeyError, signInBackoff, tooManyAttempts } from "../../core/errors.js";
import { newSecret } from "../../infra/ids.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";

/** NIST 800-63B §5.2.2: no more than 100 consecutive failed attempts on one account. */
export const SUSPEND_AFTER = 100;
/** The first wait of an account's back-off; each failure after it doubles the wait. */
export const BACKOFF_BASE_MS = 1_000;
/** How long a wait ticket stays usable once its wait has passed. */
export const TICKET_USE_MS = 10 * 60_000;
const DAY = 24 * 60 * 60_000;

/** An attempt's slots, taken before the password is checked; the caller settles exactly one way. */
export interface SignInReservation {
  /** Not evaluated after all (the store failed): every slot back. */
  giveBack(): Promise<void>;
  /** The password was right: the account's counts start afresh, the address's slot comes back. */
  passed(): Promise<void>;
  /** The password was wrong: the slots stand (and the 100th suspends password sign-in). */
  failed(userId: string | null): Promise<void>;
}

const suspended = () =>
  new LatchkeyError(
    "password_login_suspended",
    `password sign-in for this account is suspended after ${SUSPEND_AFTER} failed attempts; sign in with a passkey or reset the password`,
  );

/**
 * The sign-in throttle (SECURITY.md, "Sign-in throttling"). Per account from one address
 * (`pair`): a few failures per window, then that address waits, for a window that doubles
 * each time it fills — this stops one attacker. Per address: failures across accounts.
 * Per account from every address: after `backoffAfter` failures each attempt waits (1 s,
 * doubling, up to `backoffMaxMs`) — one evaluated at a time, the others refused 429
 * `rate_limited` with a signed wait ticket; a ticket whose wait has passed is evaluated even
 * while others keep the back-off running, so the back-off slows but does not lock the owner
 * out. After 100 consecutive failures (counted in the database) password sign-in stops.
 *
 * Everything is keyed by the normalised email, known or not, so an unknown one is answered
 * alike. Limiter counts live in memory or Redis (shared by every instance).
 */
export class LoginThrottle {
  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
  ) {}

  async reserve(
    email: string,
    ip: string | null,
    { waitTicket, signedIn = false }: { waitTicket?: string | undefined; signedIn?: boolean },
  ): Promise<SignInReservation> {
    const { limiter, store, config } = this.deps;
    const { windowMs, maxFailuresPerAccount, maxFailuresPerIp } = config.login;
    const before = await store.loginFailures.count(email);
    if (before >= SUSPEND_AFTER) throw suspended();
    const keys = keysFor(email, ip);
    const strikes = (await limiter.peek(keys.strikes)).count;
    const pairWindow = Math.min(DAY, windowMs * 2 ** strikes);
    const [pair, address, account] = await Promise.all([
      limiter.hit(keys.pair, pairWindow),
      keys.address ? limiter.hit(keys.address, windowMs) : Promise.resolve(null),
      limiter.hit(keys.account, DAY),
    ]);
    const release = async () => {
      await Promise.all([
        limiter.release(keys.pair),
        keys.address ? limiter.release(keys.address) : Promise.resolve(),
        limiter.release(keys.account),
      ]);
    };
    const overPair = pair.count > maxFailuresPerAccount;
    const overAddress = address !== null && address.count > maxFailuresPerIp;
    if (overPair || overAddress) {
      await release();
      const wait = Math.max(overPair ? pair.resetMs : 0, overAddress ? address.resetMs : 0);
      throw tooManyAttempts("too many failed sign-in attempts; try again later", wait);
    }
    // The failures before this one: the database's count survives a restart, the limiter's
    // includes attempts still being checked (so a burst cannot all pass as "the first five").
    const failures = Math.max(before, account.count - 1);
    if (failures >= config.login.backoffAfter && !signedIn) {
      const waited = await this.waitedEnough(email, waitTicket);
      const refusal = waited === true ? null : await this.backoff(email, keys, failures, waited);
      if (refusal) {
        await release();
        throw refusal;
      }
    }
    const counted = await store.loginFailures.add(email, this.deps.now()).catch(async (error) => {
      await release();
      throw error;
    });
    if (counted > SUSPEND_AFTER) {
      await Promise.all([release(), store.loginFailures.subtract(email)]);
      throw suspended();
    }
    return {
      giveBack: async () => {
        await Promise.all([release(), store.loginFailures.subtract(email)]);
      },
      passed: async () => {
        await Promise.all([
          limiter.reset(keys.pair),
          keys.address ? limiter.release(keys.address) : Promise.resolve(),
          this.clear(email, ip),
        ]);
      },
      failed: async (userId) => {
        if (pair.count === maxFailuresPerAccount) await limiter.hit(keys.strikes, DAY);
        if (counted === SUSPEND_AFTER)
          await this.audit.record({
            event: "password_login_suspended",
            userId,
            actor: null,
            ip,
            details: { failures: SUSPEND_AFTER },
          });
      },
    };
  }

  /**
   * The owner proved themselves (the right password, a passkey, a reset): the account's
   * failures, back-off and suspension start afresh, and the address's growing window too.
   */
  async clear(email: string, ip: string | null = null): Promise<void> {
    const { limiter, store } = this.deps;
    const keys = keysFor(email, ip);
    await Promise.all([
      limiter.reset(keys.account),
      limiter.reset(keys.gate),
      ip ? limiter.reset(keys.strikes) : Promise.resolve(),
      store.loginFailures.clear(email),
    ]);
  }

  /** `clear` for a user who proved themselves without a password (a passkey sign-in). */
  async clearUser(userId: string): Promise<void> {
    const row = await this.deps.store.users.byId(userId);
    if (row) await this.clear(row.email);
  }

  /**
   * Inside the back-off: true when `ticket` is this account's, its wait has passed, and it
   * was not spent before (spent here, atomically, through the limiter: one use on every
   * instance); the ticket itself when its wait has not passed yet; null otherwise.
   */
  private async waitedEnough(
    email: string,
    ticket: string | undefined,
  ): Promise<true | Ticket | null> {
    if (ticket === undefined) return null;
    const parsed = this.openTicket(email, ticket);
    const now = this.deps.now();
    if (!parsed || now > parsed.notBefore + TICKET_USE_MS) return null;
    if (now < parsed.notBefore) return parsed;
    const spent = await this.deps.limiter.hit(`login:ticket:${parsed.nonce}`, TICKET_USE_MS * 2);
    return spent.count === 1 ? true : null;
  }

  /**
   * One attempt per wait gets through the account's gate (the first to take it: null, go
   * on); the others are refused with the time left and a ticket for after it. Tickets are
   * bounded per account and address (as many per window as the address may fail), so one
   * address cannot hoard them; a ticket presented too early is handed back as it is.
   */
  private async backoff(
    email: string,
    keys: ReturnType<typeof keysFor>,
    failures: number,
    early: Ticket | null,
  ): Promise<LatchkeyError | null> {
    const { limiter, config } = this.deps;
    const step = failures - config.login.backoffAfter;
    const waitMs = Math.min(config.login.backoffMaxMs, BACKOFF_BASE_MS * 2 ** Math.min(step, 30));
    const gate = await limiter.hit(keys.gate, waitMs);
    if (gate.count === 1) return null;
    const now = this.deps.now();
    if (early) return signInBackoff(early.notBefore - now, early.text);
    const wait = Math.max(1, gate.resetMs);
    const issued = await limiter.hit(keys.tickets, config.login.windowMs);
    const ticket =
      issued.count <= config.login.maxFailuresPerAccount
        ? this.issueTicket(email, now + wait)
        : null;
    return signInBackoff(wait, ticket);
  }

  private issueTicket(email: string, notBefore: number): string {
    const nonce = newSecret(this.deps.random, "lkw").slice(4, 36);
    const body = `v1.${notBefore}.${nonce}`;
    return `${body}.${this.mac(email, body)}`;
  }

  private openTicket(email: string, text: string): Ticket | null {
    const match = /^v1\.(\d{1,16})\.([A-Za-z0-9_-]{8,64})\.([0-9a-f]{64})$/.exec(text);
    if (!match) return null;
    const body = `v1.${match[1]}.${match[2]}`;
    const given = Buffer.from(match[3]!, "hex");
    // Any key of the master-key ring: a ticket outlives a rotation that happens in its wait.
    const known = this.macs(email, body).some((mac) =>
      timingSafeEqual(Buffer.from(mac, "hex"), given),
    );
    if (!known) return null;
    return { text, notBefore: Number(match[1]), nonce: match[2]! };
  }

  /**
   * Bound to the account by its email, which the ticket itself does not carry: the hex
   * HMAC under the ring's sealing key (the box's `mac` without its `v2.<key id>.` label).
   */
  private mac(email: string, body: string): string {
    return this.deps.box.mac(`login-wait-ticket:${email}:${body}`).split(".").at(-1)!;
  }

  /** The ticket's HMAC under each key of the ring. */
  private macs(email: string, body: string): string[] {
    return this.deps.box
      .macCandidates(`login-wait-ticket:${email}:${body}`)
      .filter((mac) => !mac.startsWith("v2."));
  }
}

interface Ticket {
  text: string;
  notBefore: number;
  nonce: string;
}

function keysFor(email: string, ip: string | null) {
  const from = ip ?? "-";
  return {
    account: `login:acct:${email}`,
    gate: `login:gate:${email}`,
    pair: `login:pair:${email}|${from}`,
    strikes: `login:strikes:${email}|${from}`,
    tickets: `login:tickets:${email}|${from}`,
    address: ip ? `login:ip:${ip}` : null,
  };
}
