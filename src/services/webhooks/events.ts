/**
 * Webhook events (SPEC §11): what happened, stored once with a stable id and queued for each
 * endpoint that subscribed to it, in the same transaction as the audit entry that records
 * it — an event exists exactly when its audit entry does. Most events come from the audit
 * log (`AUDIT_EVENTS`); the rest from their own places: the scheduler (key.expiring,
 * key.expired) and verification (key.rate_limited), once each through a `dedup_key`.
 */
import { newId } from "../../infra/ids.js";
import type { Random } from "../../infra/random.js";
import type { Store, WebhookDeliveryRow, WebhookEndpointRow } from "../../store/port.js";
import type { TEST_EVENT } from "../../core/webhook-events.js";
import { type WebhookEventType } from "../../core/webhook-events.js";
import type { AuditInput } from "../audit/audit.js";
import type { Deps } from "../deps.js";

/** Audit events that are also webhook events. */
const AUDIT_EVENTS: Partial<Record<AuditInput["event"], WebhookEventType>> = {
  key_created: "key.created",
  key_rotated: "key.rotated",
  key_revoked: "key.revoked",
  key_leaked: "key.leaked",
  key_credits_low: "key.credits_low",
  refresh_token_reused: "session.refresh_reused",
  "2fa_disabled": "2fa.disabled",
};

/** Failed sign-ins on one account within the window that make a `login.failed_burst`. */
export const BURST_FAILURES = 10;
const BURST_WINDOW_MS = 15 * 60_000;
const HOUR_MS = 3_600_000;
/** key.rate_limited is sent at most once an hour per key; this many keys are remembered. */
const RATE_LIMITED_MEMORY = 10_000;

/** A delivery of `eventId` to `endpointId`, due now. */
export function newDelivery(
  random: Random,
  eventId: string,
  endpointId: string,
  now: number,
): WebhookDeliveryRow {
  return {
    id: newId(random, "whd"),
    event_id: eventId,
    endpoint_id: endpointId,
    created_at: now,
    next_attempt_at: now,
    attempts: 0,
    lease_until: null,
    delivered_at: null,
    failed_at: null,
    last_status: null,
    last_latency_ms: null,
    last_error: null,
  };
}

export interface PublishedEvent {
  id: string;
  deliveries: number;
}

export class WebhookEvents {
  /** Keys whose key.rate_limited this instance sent (or found sent), with the hour. */
  private readonly rateLimitedHour = new Map<string, number>();
  private readonly pending = new Set<Promise<unknown>>();
  private wakeSender: () => void = () => undefined;

  constructor(private readonly deps: Deps) {}

  /** The sender to wake once an event is committed (set by createServices). */
  onPublished(wake: () => void): void {
    this.wakeSender = wake;
  }

  /** Whether this audit event is delivered as a webhook too (AuditLog asks before writing). */
  fromAudit(input: AuditInput): WebhookEventType | null {
    if (input.userId === null) return null;
    return AUDIT_EVENTS[input.event] ?? null;
  }

  /** Inside the audit entry's transaction: the event for the audit entry `input`. */
  async publishAudit(tx: Store, type: WebhookEventType, input: AuditInput): Promise<void> {
    const data: Record<string, unknown> = { user_id: input.userId, ...input.details };
    if (input.ip) data.ip = input.ip;
    await this.publish(tx, input.userId!, type, data);
  }

  /**
   * Stores `type` for every enabled endpoint of `ownerId` subscribed to it (or only for
   * `onlyEndpoint`): null when none is, or when `dedupKey` was used before.
   */
  async publish(
    tx: Store,
    ownerId: string,
    type: WebhookEventType | typeof TEST_EVENT,
    data: Record<string, unknown>,
    options: { dedupKey?: string; onlyEndpoint?: WebhookEndpointRow } = {},
  ): Promise<PublishedEvent | null> {
    const endpoints = options.onlyEndpoint
      ? [options.onlyEndpoint]
      : (await tx.webhooks.endpointsOf(ownerId)).filter(
          (e) => e.enabled === 1 && (JSON.parse(e.events) as string[]).includes(type),
        );
    if (endpoints.length === 0) return null;
    const now = this.deps.now();
    const id = newId(this.deps.random, "evt");
    const payload = JSON.stringify({ type, timestamp: new Date(now).toISOString(), data });
    const stored = await tx.webhooks.insertEvent({
      id,
      owner_id: ownerId,
      type,
      payload,
      dedup_key: options.dedupKey ?? null,
      created_at: now,
    });
    if (!stored) return null;
    await tx.webhooks.insertDeliveries(
      endpoints.map((endpoint) => newDelivery(this.deps.random, id, endpoint.id, now)),
    );
    return { id, deliveries: endpoints.length };
  }

  /** After the transaction that published committed: deliver now rather than at the next poll. */
  committed(): void {
    this.wakeSender();
  }

  /** Publishes outside any other transaction, then wakes the sender. */
  async publishNow(
    ownerId: string,
    type: WebhookEventType | typeof TEST_EVENT,
    data: Record<string, unknown>,
    options: { dedupKey?: string; onlyEndpoint?: WebhookEndpointRow } = {},
  ): Promise<PublishedEvent | null> {
    const published = await this.deps.store.transaction((tx) =>
      this.publish(tx, ownerId, type, data, options),
    );
    if (published) this.committed();
    return published;
  }

  /**
   * A failed or throttled sign-in for an email: the tenth within 15 minutes makes a
   * `login.failed_burst` for its account (if there is one), at most once an hour per account
   * across the cluster. Not awaited by sign-in: a real account must answer as fast as an
   * unknown email, so the account is looked up only at the threshold.
   */
  signInFailed(email: string, ip: string | null): void {
    this.track(
      (async () => {
        const key = `webhooks:burst:${email}`;
        const { count } = await this.deps.limiter.hit(key, BURST_WINDOW_MS);
        if (count !== BURST_FAILURES) return;
        const user = await this.deps.store.users.byEmail(email);
        if (!user) return;
        const userId = user.id;
        const hour = Math.floor(this.deps.now() / HOUR_MS);
        await this.publishNow(
          userId,
          "login.failed_burst",
          { user_id: userId, failures: count, window_seconds: BURST_WINDOW_MS / 1000, last_ip: ip },
          { dedupKey: `login.failed_burst:${userId}:${hour}` },
        );
      })(),
    );
  }

  private track(work: Promise<unknown>): void {
    const write = work
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: (error as Error).message }, "webhook event not stored"),
      )
      .finally(() => this.pending.delete(write));
    this.pending.add(write);
  }

  /**
   * Verification refused a key as `rate_limited`. Nothing is awaited on the verification's
   * path: one map lookup per refusal, and at most one store write per key and hour per
   * instance (the `dedup_key` makes it once across the cluster).
   */
  rateLimited(key: { id: string; ownerId: string }, limit: string): void {
    const hour = Math.floor(this.deps.now() / HOUR_MS);
    if (this.rateLimitedHour.get(key.id) === hour) return;
    this.rateLimitedHour.delete(key.id);
    if (this.rateLimitedHour.size >= RATE_LIMITED_MEMORY)
      this.rateLimitedHour.delete(this.rateLimitedHour.keys().next().value!);
    this.rateLimitedHour.set(key.id, hour);
    this.track(
      this.publishNow(
        key.ownerId,
        "key.rate_limited",
        { user_id: key.ownerId, key_id: key.id, limit },
        { dedupKey: `key.rate_limited:${key.id}:${hour}` },
      ),
    );
  }

  /** Waits for event writes still in flight (before the store closes). */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
