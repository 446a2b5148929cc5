/**
 * The events a webhook endpoint can subscribe to (SPEC §11), with what each means. The
 * names are the `type` of the delivered body; `webhook.test` is sent only when asked for.
 */
export const WEBHOOK_EVENTS = {
  "key.created": "an API key was created (also by rotation)",
  "key.rotated": "an API key was rotated: the body names the old key and its successor",
  "key.revoked": "an API key was revoked (by its owner, with its parent, or after a leak)",
  "key.expiring": "an API key expires in 7 days, and again 1 day before",
  "key.expired": "an API key reached its expiry",
  "key.leaked": "a leak report named a real key: revoked, or quarantined under that policy",
  "key.rate_limited": "an API key hit a rate limit (at most once an hour per key)",
  "key.credits_low": "an API key's usage credits fell to the low threshold",
  "session.refresh_reused": "a spent refresh token was presented again: its session was ended",
  "2fa.disabled": "two-factor authentication was turned off",
  "login.failed_burst":
    "many failed sign-ins on the account in a short time (at most once an hour)",
} as const;

export type WebhookEventType = keyof typeof WEBHOOK_EVENTS;

export const WEBHOOK_EVENT_TYPES = Object.keys(WEBHOOK_EVENTS) as WebhookEventType[];

export const TEST_EVENT = "webhook.test";

export function isWebhookEventType(value: string): value is WebhookEventType {
  return Object.hasOwn(WEBHOOK_EVENTS, value);
}
