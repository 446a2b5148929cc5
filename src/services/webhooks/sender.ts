/**
 * The webhook sender: the durable outbox's delivery loop. Each instance claims due
 * deliveries with a lease (one more attempt each; PostgreSQL's `FOR UPDATE SKIP LOCKED`
 * lets two instances never hold one delivery), POSTs the event signed per Standard Webhooks
 * (`webhook-id` is the event's id, the same on every retry and redelivery), and records the
 * attempt in the delivery log. A failure is retried with backoff for 24 h; an endpoint
 * whose deliveries have all failed for 24 h is switched off (audited). At least once: a
 * crash between the receiver's answer and the record sends that event again, same id.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { Webhook } from "standardwebhooks";
import type { DueDelivery } from "../../store/port.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import { PollLoop } from "../poll-loop.js";
import { bareHost, guardedLookup, isPublicAddress } from "./targets.js";

/** Wait after the n-th failed attempt (Standard Webhooks' usual schedule, ~24 h in all). */
const RETRY_DELAYS_MS = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];
/** Deliveries are retried for this long after the event; endpoints off after this long failing. */
export const RETRY_FOR_MS = 24 * 3_600_000;
const BATCH = 20;
const CONCURRENCY = 8;
/** The body read back from a receiver, at most (the rest is dropped). */
const ANSWER_BYTES = 4096;
const KEEP_MS = 30 * 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;
const USER_AGENT = "Latchkey-Webhooks/1";

/** When to try again after `attempt` failed, or null to give up. */
export function nextAttemptAt(attempt: number, createdAt: number, now: number): number | null {
  const delay = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length) - 1]!;
  const next = now + delay;
  if (now - createdAt >= RETRY_FOR_MS) return null;
  return Math.min(next, createdAt + RETRY_FOR_MS);
}

interface Answer {
  status: number | null;
  error: string | null;
  latencyMs: number;
}

export class WebhookSender {
  private readonly loop: PollLoop;
  private prunedAt = -Infinity;

  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
  ) {
    this.loop = new PollLoop(
      () => this.sendDue(),
      () => deps.config.webhooks.pollMs,
      (error) => deps.logger.warn({ err: errorText(error) }, "webhook delivery pass failed"),
    );
  }

  /** Starts the loop (main.ts; services built by tests deliver only when told). */
  start(): void {
    this.loop.start();
  }

  /** An event was committed: deliver it now rather than at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /** One pass (never two at once on this instance): how many deliveries it attempted. */
  cycle(): Promise<number> {
    return this.loop.cycle();
  }

  private async sendDue(): Promise<number> {
    const { store } = this.deps;
    const now = this.deps.now();
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now;
      await store.webhooks.prune(now - KEEP_MS);
    }
    const leaseMs = this.deps.config.webhooks.timeoutMs * 3 + 30_000;
    const rows = await store.webhooks.claim(now, now + leaseMs, BATCH);
    // A few at once: one slow receiver must not hold back every other endpoint's events.
    for (let i = 0; i < rows.length; i += CONCURRENCY)
      await Promise.all(rows.slice(i, i + CONCURRENCY).map((row) => this.deliver(row)));
    return rows.length;
  }

  private async deliver(row: DueDelivery): Promise<void> {
    const answer =
      row.enabled === 1
        ? await this.post(row)
        : { status: null, error: "endpoint is disabled", latencyMs: 0 };
    const at = this.deps.now();
    const ok = answer.status !== null && answer.status >= 200 && answer.status < 300;
    const retryAt =
      ok || row.enabled !== 1 ? null : nextAttemptAt(row.attempts, row.created_at, at);
    const recorded = await this.deps.store.webhooks.finish(
      row.id,
      {
        delivery_id: row.id,
        attempt: row.attempts,
        at,
        status: answer.status,
        latency_ms: Math.round(answer.latencyMs),
        error: answer.error,
      },
      { delivered: ok, nextAttemptAt: retryAt },
    );
    if (!recorded || row.enabled !== 1) return;
    if (ok) {
      if (row.failing_since !== null)
        await this.deps.store.webhooks.updateEndpoint(row.endpoint_id, {
          failing_since: null,
          updated_at: at,
        });
      return;
    }
    this.deps.logger.warn(
      {
        delivery_id: row.id,
        endpoint_id: row.endpoint_id,
        attempt: row.attempts,
        status: answer.status,
        err: answer.error,
      },
      retryAt === null ? "webhook delivery given up" : "webhook delivery failed; will retry",
    );
    await this.failing(row, at);
  }

  /** Marks the endpoint failing since its first failure; after 24 h of it, switches it off. */
  private async failing(row: DueDelivery, at: number): Promise<void> {
    const { webhooks } = this.deps.store;
    if (row.failing_since === null) {
      await webhooks.updateEndpoint(row.endpoint_id, { failing_since: at, updated_at: at });
      return;
    }
    if (at - row.failing_since < RETRY_FOR_MS) return;
    const off = await webhooks.updateEndpoint(row.endpoint_id, {
      enabled: 0,
      disabled_reason: "failing",
      updated_at: at,
    });
    if (!off) return;
    const abandoned = await webhooks.abandonPending(row.endpoint_id, at, "endpoint disabled");
    await this.audit.record({
      event: "webhook_endpoint_disabled",
      userId: row.owner_id,
      details: {
        endpoint_id: row.endpoint_id,
        reason: "failing",
        failing_since: new Date(row.failing_since).toISOString(),
        deliveries_abandoned: abandoned,
      },
    });
  }

  /** One POST, signed now; never throws (a refusal or timeout is an answer with no status). */
  private post(row: DueDelivery): Promise<Answer> {
    const { config, box } = this.deps;
    const started = performance.now();
    // One reading of the clock for the signature and its header: two could straddle a second.
    const signedAt = this.deps.now();
    const done = (status: number | null, error: string | null): Answer => ({
      status,
      error,
      latencyMs: performance.now() - started,
    });
    let url: URL;
    let signature: string;
    try {
      url = new URL(row.url);
      const secret = box.open(row.secret_sealed, `webhook:${row.endpoint_id}`);
      signature = new Webhook(secret).sign(row.event_id, new Date(signedAt), row.payload);
    } catch (error) {
      return Promise.resolve(done(null, errorText(error)));
    }
    const host = bareHost(url.hostname);
    const guard = !config.webhooks.allowPrivate;
    if (guard && isIP(host) !== 0 && !isPublicAddress(host))
      return Promise.resolve(done(null, `${host} is not a public address`));
    const body = Buffer.from(row.payload);
    return new Promise<Answer>((resolve) => {
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": body.length,
            "user-agent": USER_AGENT,
            "webhook-id": row.event_id,
            "webhook-timestamp": String(Math.floor(signedAt / 1000)),
            "webhook-signature": signature,
          },
          timeout: config.webhooks.timeoutMs,
          ...(guard ? { lookup: guardedLookup } : {}),
        },
        (res: IncomingMessage) => {
          let read = 0;
          res.on("data", (chunk: Buffer) => {
            read += chunk.length;
            if (read > ANSWER_BYTES) res.destroy();
          });
          const finish = () => resolve(done(res.statusCode ?? null, statusError(res.statusCode)));
          res.on("end", finish);
          res.on("close", finish);
          res.on("error", finish);
        },
      );
      const wall = setTimeout(() => req.destroy(new Error("timed out")), config.webhooks.timeoutMs);
      req.on("close", () => clearTimeout(wall));
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (error) => resolve(done(null, errorText(error))));
      req.end(body);
    });
  }

  /** Stops the loop; a delivery in flight finishes (its lease covers a crash instead). */
  close(): Promise<void> {
    return this.loop.stop();
  }
}

function statusError(status: number | undefined): string | null {
  if (status === undefined) return "no status";
  return status >= 200 && status < 300 ? null : `answered ${status}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
