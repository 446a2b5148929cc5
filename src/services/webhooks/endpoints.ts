/**
 * Webhook endpoints (SPEC §11): an owner's URLs with the events each wants and the secret
 * that signs them (shown once, at creation or rotation; stored sealed under the master
 * key, because signing needs it). The delivery log, redelivery and a test event.
 */
import { LatchkeyError } from "../../core/errors.js";
import { isWebhookEventType, TEST_EVENT } from "../../core/webhook-events.js";
import { newId } from "../../infra/ids.js";
import type {
  DeliveryListRow,
  WebhookAttemptRow,
  WebhookEndpointPatch,
  WebhookEndpointRow,
} from "../../store/port.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import type { Caller } from "../keys/api-keys.js";
import { badField } from "../keys/rows.js";
import { requireStepUp } from "../step-up.js";
import { newDelivery, type WebhookEvents } from "./events.js";
import { checkTarget } from "./targets.js";

/** Endpoints one owner may have. */
export const MAX_ENDPOINTS = 20;
const SECRET_BYTES = 32;

export interface EndpointInput {
  url: string;
  events: string[];
  description?: string | undefined;
}

export interface EndpointPatchInput {
  url?: string | undefined;
  events?: string[] | undefined;
  description?: string | null | undefined;
  enabled?: boolean | undefined;
}

export type { DeliveryListRow, WebhookEndpointRow };

export interface DeliveryDetails extends DeliveryListRow {
  attempts_log: WebhookAttemptRow[];
}

export class WebhookEndpoints {
  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
    private readonly events: WebhookEvents,
  ) {}

  list(ownerId: string): Promise<WebhookEndpointRow[]> {
    return this.deps.store.webhooks.endpointsOf(ownerId);
  }

  /**
   * A new endpoint and its signing secret (returned this once). Where events go is as
   * sensitive as a new sign-in method: step-up (SPEC §9), and never by an API key.
   */
  async create(
    caller: Caller,
    input: EndpointInput,
  ): Promise<{ row: WebhookEndpointRow; secret: string }> {
    requireStepUp(this.deps, caller, "creating a webhook endpoint");
    const url = await checkTarget(input.url, this.deps.config.webhooks.allowPrivate);
    const events = eventList(input.events);
    const { store, random, box } = this.deps;
    const existing = await store.webhooks.endpointsOf(caller.user.id);
    if (existing.length >= MAX_ENDPOINTS)
      throw new LatchkeyError(
        "plan_limit_reached",
        `an account can have at most ${MAX_ENDPOINTS} webhook endpoints`,
        { limit: MAX_ENDPOINTS },
      );
    const id = newId(random, "whe");
    const secret = newSigningSecret(random.bytes(SECRET_BYTES));
    const now = this.deps.now();
    const row: WebhookEndpointRow = {
      id,
      owner_id: caller.user.id,
      url,
      description: input.description || null,
      events: JSON.stringify(events),
      secret_sealed: box.seal(secret, `webhook:${id}`),
      enabled: 1,
      disabled_reason: null,
      failing_since: null,
      created_at: now,
      updated_at: now,
    };
    await store.webhooks.insertEndpoint(row);
    await this.audit.record({
      event: "webhook_endpoint_created",
      userId: caller.user.id,
      actor: caller.actor,
      ip: caller.ip,
      details: { endpoint_id: id, url, events },
    });
    return { row, secret };
  }

  /** The caller's endpoint; anyone else's answers 404 like a missing one. */
  async own(ownerId: string, id: string): Promise<WebhookEndpointRow> {
    const row = await this.deps.store.webhooks.endpoint(id);
    if (!row || row.owner_id !== ownerId)
      throw new LatchkeyError("not_found", "no such webhook endpoint");
    return row;
  }

  /** Edits an endpoint; a new URL needs step-up like a new endpoint. Enabling clears failures. */
  async update(caller: Caller, id: string, patch: EndpointPatchInput): Promise<WebhookEndpointRow> {
    const row = await this.own(caller.user.id, id);
    const now = this.deps.now();
    const values: WebhookEndpointPatch = { updated_at: now };
    const changes: Record<string, unknown> = {};
    if (patch.url !== undefined) {
      requireStepUp(this.deps, caller, "changing a webhook endpoint's URL");
      const url = await checkTarget(patch.url, this.deps.config.webhooks.allowPrivate);
      if (url !== row.url) values.url = changes.url = url;
    }
    if (patch.events !== undefined) {
      const events = eventList(patch.events);
      values.events = JSON.stringify(events);
      changes.events = events;
    }
    if (patch.description !== undefined) {
      values.description = patch.description || null;
      changes.description = values.description;
    }
    let disabled = false;
    if (patch.enabled === true && row.enabled !== 1) {
      Object.assign(values, { enabled: 1, disabled_reason: null, failing_since: null });
      changes.enabled = true;
    } else if (patch.enabled === false && row.enabled === 1) {
      Object.assign(values, { enabled: 0, disabled_reason: "owner" });
      changes.enabled = false;
      disabled = true;
    }
    if (Object.keys(changes).length === 0) return row;
    await this.deps.store.webhooks.updateEndpoint(id, values);
    // Switched off: what was still queued for it is given up (redeliver it once it is on).
    if (disabled) await this.deps.store.webhooks.abandonPending(id, now, "endpoint disabled");
    await this.audit.record({
      event: "webhook_endpoint_updated",
      userId: caller.user.id,
      actor: caller.actor,
      ip: caller.ip,
      details: { endpoint_id: id, ...changes },
    });
    return { ...row, ...values };
  }

  /** A new signing secret (returned this once); the old one stops signing at once. */
  async rotateSecret(
    caller: Caller,
    id: string,
  ): Promise<{ row: WebhookEndpointRow; secret: string }> {
    requireStepUp(this.deps, caller, "rotating a webhook endpoint's secret");
    const row = await this.own(caller.user.id, id);
    const secret = newSigningSecret(this.deps.random.bytes(SECRET_BYTES));
    const now = this.deps.now();
    const values = { secret_sealed: this.deps.box.seal(secret, `webhook:${id}`), updated_at: now };
    await this.deps.store.webhooks.updateEndpoint(id, values);
    await this.audit.record({
      event: "webhook_endpoint_updated",
      userId: caller.user.id,
      actor: caller.actor,
      ip: caller.ip,
      details: { endpoint_id: id, secret_rotated: true },
    });
    return { row: { ...row, ...values }, secret };
  }

  async remove(caller: Caller, id: string): Promise<void> {
    await this.own(caller.user.id, id);
    await this.deps.store.webhooks.deleteEndpoint(id);
    await this.audit.record({
      event: "webhook_endpoint_deleted",
      userId: caller.user.id,
      actor: caller.actor,
      ip: caller.ip,
      details: { endpoint_id: id },
    });
  }

  /** Queues a `webhook.test` event for this endpoint alone; it must be switched on. */
  async sendTest(ownerId: string, id: string): Promise<{ event_id: string }> {
    const row = await this.own(ownerId, id);
    if (row.enabled !== 1)
      throw new LatchkeyError("conflict", "the endpoint is switched off: enable it first");
    const published = await this.events.publishNow(
      ownerId,
      TEST_EVENT,
      { endpoint_id: id, message: "a test event from Latchkey" },
      { onlyEndpoint: row },
    );
    return { event_id: published!.id };
  }

  async deliveries(
    ownerId: string,
    id: string,
    options: { limit: number; before?: string | undefined },
  ): Promise<DeliveryListRow[]> {
    await this.own(ownerId, id);
    return this.deps.store.webhooks.deliveries(id, {
      limit: options.limit,
      ...(options.before ? { before: options.before } : {}),
    });
  }

  async delivery(ownerId: string, id: string, deliveryId: string): Promise<DeliveryDetails> {
    await this.own(ownerId, id);
    const row = await this.deps.store.webhooks.delivery(deliveryId);
    if (!row || row.endpoint_id !== id) throw new LatchkeyError("not_found", "no such delivery");
    return { ...row, attempts_log: await this.deps.store.webhooks.attempts(deliveryId) };
  }

  /**
   * Sends a delivery's event again, as a new delivery with the same `webhook-id` (receivers
   * that deduplicate by it see a repeat). The endpoint must be on.
   */
  async redeliver(caller: Caller, id: string, deliveryId: string): Promise<DeliveryListRow> {
    const endpoint = await this.own(caller.user.id, id);
    const original = await this.deps.store.webhooks.delivery(deliveryId);
    if (!original || original.endpoint_id !== id)
      throw new LatchkeyError("not_found", "no such delivery");
    if (endpoint.enabled !== 1)
      throw new LatchkeyError("conflict", "the endpoint is switched off: enable it first");
    const row = newDelivery(this.deps.random, original.event_id, id, this.deps.now());
    await this.deps.store.webhooks.insertDeliveries([row]);
    this.events.committed();
    await this.audit.record({
      event: "webhook_redelivered",
      userId: caller.user.id,
      actor: caller.actor,
      ip: caller.ip,
      details: { endpoint_id: id, delivery_id: row.id, of: deliveryId, event_id: row.event_id },
    });
    return { ...row, type: original.type };
  }
}

/** Standard Webhooks' secret form: `whsec_` and the base64 of the key bytes. */
export function newSigningSecret(bytes: Buffer): string {
  return `whsec_${bytes.toString("base64")}`;
}

function eventList(events: string[]): string[] {
  const unique = [...new Set(events)];
  const unknown = unique.filter((e) => !isWebhookEventType(e));
  if (unknown.length > 0) throw badField("events", `unknown event types: ${unknown.join(", ")}`);
  if (unique.length === 0) throw badField("events", "choose at least one event");
  return unique;
}
