/**
 * `verifyWebhook` (SPEC §11): checks a delivery from Latchkey as the Standard Webhooks
 * specification says (https://www.standardwebhooks.com), with node:crypto only, and returns
 * its event. Give it the body exactly as received (the raw bytes or string, before any JSON
 * parsing): the signature covers those bytes.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { TEST_EVENT, WebhookEventType } from "../core/webhook-events.js";

/** What a delivery's body holds. `webhook.test` is sent only by `webhooks.sendTest`. */
export interface WebhookEvent<Data = Record<string, unknown>> {
  type: WebhookEventType | typeof TEST_EVENT;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: Data;
}

export type WebhookVerificationErrorCode =
  | "invalid_secret"
  | "missing_header"
  | "invalid_timestamp"
  | "timestamp_out_of_range"
  | "invalid_signature"
  | "invalid_payload";

/** Why a delivery was not accepted; `code` is fixed, the message is for people. */
export class WebhookVerificationError extends Error {
  constructor(
    readonly code: WebhookVerificationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** Headers as Node's `IncomingHttpHeaders` (any case), a plain record, or a fetch `Headers`. */
export type WebhookHeaders =
  { get(name: string): string | null } | Record<string, string | readonly string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far the `webhook-timestamp` may be from now, either way; default 300 (5 minutes). */
  toleranceSeconds?: number;
  /** The current time (epoch ms), for tests; default `Date.now()`. */
  now?: number;
}

const DEFAULT_TOLERANCE_SECONDS = 5 * 60;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === "function")
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const record = headers as Record<string, string | readonly string[] | undefined>;
  for (const [key, value] of Object.entries(record)) {
    if (key.toLowerCase() !== name) continue;
    // A header sent twice arrives as a list: its values joined, as HTTP combines them.
    return typeof value === "string" ? value : value?.join(" ");
  }
  return undefined;
}

function required(headers: WebhookHeaders, name: string): string {
  const value = header(headers, name)?.trim();
  if (!value) throw new WebhookVerificationError("missing_header", `the ${name} header is missing`);
  return value;
}

/** `whsec_<base64>` (as Latchkey shows it) or the bare base64 key. */
function signingKey(secret: string): Buffer {
  if (typeof secret !== "string")
    throw new WebhookVerificationError("invalid_secret", "the signing secret must be a string");
  const encoded = secret.trim().replace(/^whsec_/, "");
  if (!BASE64.test(encoded) || encoded.length % 4 === 1)
    throw new WebhookVerificationError(
      "invalid_secret",
      "the signing secret is not whsec_ followed by base64",
    );
  return Buffer.from(encoded, "base64");
}

function bytesOf(payload: string | Uint8Array): Buffer {
  if (typeof payload === "string") return Buffer.from(payload, "utf8");
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  throw new WebhookVerificationError(
    "invalid_payload",
    "the payload must be the raw body: a string, Buffer or Uint8Array (not parsed JSON)",
  );
}

function checkTimestamp(text: string, options: VerifyWebhookOptions): void {
  if (!/^\d{1,12}$/.test(text))
    throw new WebhookVerificationError(
      "invalid_timestamp",
      "the webhook-timestamp header is not a Unix time in seconds",
    );
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const at = Number(text);
  if (at < now - tolerance)
    throw new WebhookVerificationError(
      "timestamp_out_of_range",
      `the delivery is too old (signed ${now - at} s ago, more than ${tolerance} s): a replay?`,
    );
  if (at > now + tolerance)
    throw new WebhookVerificationError(
      "timestamp_out_of_range",
      `the delivery is signed ${at - now} s in the future (more than ${tolerance} s): check the clocks`,
    );
}

/** Whether one of the `v1,<base64>` signatures in the space-separated list is `expected`. */
function hasSignature(list: string, expected: Buffer): boolean {
  let found = false;
  for (const entry of list.split(" ")) {
    const comma = entry.indexOf(",");
    // Other versions (v1a, v2, …) are not ours to check: the specification says to skip them.
    if (comma === -1 || entry.slice(0, comma) !== "v1") continue;
    const given = Buffer.from(entry.slice(comma + 1), "base64");
    // No early return: every candidate is compared, each in constant time.
    if (given.length === expected.length && timingSafeEqual(given, expected)) found = true;
  }
  return found;
}

function eventOf<Data>(body: Buffer): WebhookEvent<Data> {
  let event: unknown;
  try {
    event = JSON.parse(body.toString("utf8"));
  } catch {
    throw new WebhookVerificationError("invalid_payload", "the payload is not JSON");
  }
  if (
    typeof event !== "object" ||
    event === null ||
    typeof (event as { type?: unknown }).type !== "string" ||
    typeof (event as { timestamp?: unknown }).timestamp !== "string"
  )
    throw new WebhookVerificationError(
      "invalid_payload",
      "the payload is not a Latchkey event ({type, timestamp, data})",
    );
  return event as WebhookEvent<Data>;
}

/**
 * Verifies a webhook delivery and returns its event: the `webhook-signature` must hold a
 * `v1` HMAC-SHA256 of `${webhook-id}.${webhook-timestamp}.${payload}` under `secret`, and
 * the timestamp must be within `toleranceSeconds` of now. Throws `WebhookVerificationError`
 * otherwise; answer such a request 400 and do not act on it. `webhook-id` stays the same on
 * every retry and redelivery: store it to act on each event once.
 */
export function verifyWebhook<Data = Record<string, unknown>>(
  payload: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions = {},
): WebhookEvent<Data> {
  const key = signingKey(secret);
  const body = bytesOf(payload);
  const id = required(headers, "webhook-id");
  const timestamp = required(headers, "webhook-timestamp");
  const signatures = required(headers, "webhook-signature");
  checkTimestamp(timestamp, options);
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest();
  if (!hasSignature(signatures, expected))
    throw new WebhookVerificationError(
      "invalid_signature",
      "no v1 signature in webhook-signature matches: wrong secret, or the body was changed",
    );
  return eventOf<Data>(body);
}
