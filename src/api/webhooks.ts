/**
 * Wire contract of webhooks (SPEC §11): endpoints, their delivery log, redelivery and test
 * events. The secret is in the answer of creation and rotation only.
 */
import { z } from "zod";
import { WEBHOOK_EVENT_TYPES, WEBHOOK_EVENTS } from "../core/webhook-events.js";

export const MAX_WEBHOOK_URL_LENGTH = 2048;

const EventType = z.enum(WEBHOOK_EVENT_TYPES as [string, ...string[]]);

const events = z
  .array(EventType)
  .min(1, "choose at least one event")
  .max(WEBHOOK_EVENT_TYPES.length * 2)
  .describe("the events to deliver (GET /v1/webhooks/event-types lists them)");

export const CreateWebhookBody = z.strictObject({
  url: z
    .string()
    .trim()
    .min(1)
    .max(MAX_WEBHOOK_URL_LENGTH)
    .describe(
      "http(s) URL on a public address (private ones need LATCHKEY_WEBHOOKS_ALLOW_PRIVATE)",
    ),
  events,
  description: z.string().trim().max(200).optional(),
});

export const WebhookPatch = z
  .strictObject({
    url: CreateWebhookBody.shape.url.optional().describe("a new URL needs step-up"),
    events: events.optional(),
    description: z.string().trim().max(200).nullable().optional(),
    enabled: z
      .boolean()
      .optional()
      .describe("false switches it off (queued deliveries are given up); true back on"),
  })
  .refine((body) => Object.keys(body).length > 0, { message: "nothing to change" });

export const WebhookEndpoint = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  events: z.array(z.string()),
  enabled: z.boolean(),
  disabled_reason: z
    .string()
    .nullable()
    .describe("owner, or failing: switched off after 24 h of failed deliveries"),
  failing_since: z.string().nullable().describe("the first failure since the last success"),
  created_at: z.string(),
  updated_at: z.string(),
});

export const WebhookCreated = WebhookEndpoint.extend({
  secret: z
    .string()
    .describe("whsec_…: verifies webhook-signature (Standard Webhooks); shown this once"),
});

export const WebhookList = z.object({ webhooks: z.array(WebhookEndpoint) });

export const WebhookEventTypes = z.object({
  event_types: z.array(z.object({ type: z.string(), description: z.string() })),
});

export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;

export const WebhookDelivery = z.object({
  id: z.string(),
  event_id: z.string().describe("the webhook-id header: the same on every retry and redelivery"),
  type: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number().int(),
  created_at: z.string(),
  next_attempt_at: z.string().nullable().describe("while pending"),
  delivered_at: z.string().nullable(),
  failed_at: z.string().nullable(),
  last_status: z.number().int().nullable().describe("the receiver's last HTTP status"),
  last_latency_ms: z.number().int().nullable(),
  last_error: z.string().nullable(),
});

export const WebhookAttempt = z.object({
  attempt: z.number().int(),
  at: z.string(),
  status: z.number().int().nullable(),
  latency_ms: z.number().int(),
  error: z.string().nullable(),
});

export const WebhookDeliveryDetails = WebhookDelivery.extend({
  attempts_log: z.array(WebhookAttempt),
});

export const WebhookDeliveryList = z.object({
  deliveries: z.array(WebhookDelivery),
  next_before: z.string().nullable().describe("pass as `before` for the next (older) page"),
});

export const DeliveriesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  before: z.string().max(64).optional(),
});

export const WebhookParams = z.strictObject({ id: z.string().min(1).max(64) });
export const DeliveryParams = z.strictObject({
  id: z.string().min(1).max(64),
  delivery_id: z.string().min(1).max(64),
});

export const TestEventSent = z.object({ event_id: z.string() });

export { WEBHOOK_EVENTS };
export type WebhookEndpointT = z.infer<typeof WebhookEndpoint>;
export type WebhookCreatedT = z.infer<typeof WebhookCreated>;
export type WebhookDeliveryT = z.infer<typeof WebhookDelivery>;
export type WebhookDeliveryDetailsT = z.infer<typeof WebhookDeliveryDetails>;
export type CreateWebhookBodyT = z.infer<typeof CreateWebhookBody>;
export type WebhookPatchT = z.infer<typeof WebhookPatch>;
