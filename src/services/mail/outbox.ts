import { newId } from "../../infra/ids.js";
import type { Store } from "../../store/port.js";
import type { Deps } from "../deps.js";
import { PollLoop } from "../poll-loop.js";
import type { MailKind, MailMessage } from "./templates.js";

/** How long a sender holds a claimed message: well past nodemailer's own timeouts. */
const LEASE_MS = 5 * 60_000;
const BATCH = 20;
/** Attempts before a message is given up (the last retry ~17 h after the first try). */
const MAX_ATTEMPTS = 12;
const BACKOFF_BASE_MS = 15_000;
const BACKOFF_MAX_MS = 4 * 3_600_000;
/** Shutdown sends what is due for at most this long. */
const DRAIN_MS = 5_000;
/** Sent and given-up rows (their payload already emptied) are kept this long, for operators. */
const KEEP_MS = 30 * 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

export function backoffMs(attempt: number): number {
  return Math.min(BACKOFF_BASE_MS * 2 ** (attempt - 1), BACKOFF_MAX_MS);
}

/**
 * The durable outbox (SPEC §9): a message is a row written in the same transaction as what
 * causes it, so it exists exactly when that commits. A sender loop claims due rows with a
 * lease (one more attempt each), sends, and marks them sent; a crash before sending leaves
 * the row due (sent after restart, once), a crash while holding it lets the lease run out.
 * Failures retry with exponential backoff. The payload is sealed under the master key and
 * emptied once sent: the database never holds a one-time link in clear.
 */
export class MailOutbox {
  private readonly loop: PollLoop;
  private closed = false;
  private prunedAt = -Infinity;

  constructor(private readonly deps: Deps) {
    this.loop = new PollLoop(
      () => this.sendDue(),
      () => deps.config.mail.pollMs,
      (error) => deps.logger.warn({ err: errorText(error) }, "mail outbox pass failed"),
    );
  }

  /** Adds a message inside `tx`; call `wake()` once the transaction has committed. */
  async enqueue(tx: Store, kind: MailKind, message: MailMessage): Promise<string> {
    const id = newId(this.deps.random, "msg");
    const now = this.deps.now();
    await tx.mail.insert({
      id,
      kind,
      payload: this.deps.box.seal(JSON.stringify(message), `mail:${id}`),
      created_at: now,
      next_attempt_at: now,
      attempts: 0,
      lease_until: null,
      sent_at: null,
      failed_at: null,
      last_error: null,
    });
    return id;
  }

  /** Starts the sender loop (main.ts; services built by tests send only when told). */
  start(): void {
    this.loop.start();
  }

  /** A new message is committed: send it now rather than at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /** One pass (never two at once on this instance): the number of messages it handled. */
  cycle(): Promise<number> {
    return this.loop.cycle();
  }

  private async sendDue(): Promise<number> {
    const { store, box, mailer, config, logger } = this.deps;
    const now = this.deps.now();
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now;
      await store.mail.prune(now - KEEP_MS);
    }
    const rows = await store.mail.claim(now, now + LEASE_MS, BATCH);
    for (const row of rows) {
      try {
        const message = JSON.parse(box.open(row.payload, `mail:${row.id}`)) as MailMessage;
        await mailer.send({ id: row.id, from: config.mail.from, ...message });
        await store.mail.sent(row.id, row.attempts, this.deps.now());
      } catch (error) {
        const giveUp = row.attempts >= MAX_ATTEMPTS;
        const at = this.deps.now();
        await store.mail.failed(
          row.id,
          row.attempts,
          at,
          giveUp ? null : at + backoffMs(row.attempts),
          errorText(error),
        );
        logger.warn(
          { mail_id: row.id, kind: row.kind, attempt: row.attempts, err: errorText(error) },
          giveUp ? "mail given up after its last attempt" : "mail not sent; will retry",
        );
      }
    }
    return rows.length;
  }

  /** Stops the loop and sends what is due (bounded), for a graceful shutdown. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const started = this.loop.started;
    await this.loop.stop();
    // A sender that never started (services built without main.ts) leaves the mail queued.
    if (!started) return;
    const deadline = Date.now() + DRAIN_MS;
    try {
      // The loop is stopped and its last pass is over: nothing else sends on this instance.
      while (Date.now() < deadline && (await this.sendDue()) > 0);
    } catch (error) {
      this.deps.logger.warn({ err: errorText(error) }, "mail outbox drain failed");
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
