import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { verifyWebhook, WebhookVerificationError } from "./webhooks.js";

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
const SECRET = `whsec_${randomBytes(24).toString("base64")}`;
const OTHER = `whsec_${randomBytes(24).toString("base64")}`;
const PAYLOAD = JSON.stringify({
  type: "key.revoked",
  timestamp: new Date(NOW).toISOString(),
  data: { key_id: "key_1", reason: "leaked" },
});

/** A delivery as the reference implementation signs it. */
function signed(options: { at?: number; secret?: string; id?: string; payload?: string } = {}) {
  const id = options.id ?? "evt_2f6a";
  const at = options.at ?? NOW;
  const signature = new Webhook(options.secret ?? SECRET).sign(
    id,
    new Date(at),
    options.payload ?? PAYLOAD,
  );
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at / 1000)),
    "webhook-signature": signature,
  };
}

function refusal(run: () => unknown): WebhookVerificationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return error as WebhookVerificationError;
  }
  throw new Error("it was accepted");
}

describe("verifyWebhook", () => {
  it("accepts what standardwebhooks signs and returns the event", () => {
    const event = verifyWebhook(PAYLOAD, signed(), SECRET, { now: NOW });
    expect(event).toEqual(JSON.parse(PAYLOAD));
    expect(event.type).toBe("key.revoked");
  });

  it("returns what standardwebhooks returns for a fresh delivery", () => {
    // The reference reads the real clock, so this delivery is signed for now.
    const fresh = signed({ at: Date.now() });
    expect(verifyWebhook(PAYLOAD, fresh, SECRET)).toEqual(
      new Webhook(SECRET).verify(PAYLOAD, fresh),
    );
  });

  it("accepts a Buffer, a Uint8Array, a Headers instance and headers in any case", () => {
    const headers = signed();
    const bytes = Buffer.from(PAYLOAD);
    expect(verifyWebhook(bytes, headers, SECRET, { now: NOW }).type).toBe("key.revoked");
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(verifyWebhook(view, headers, SECRET, { now: NOW }).type).toBe("key.revoked");
    expect(verifyWebhook(PAYLOAD, new Headers(headers), SECRET, { now: NOW }).type).toBe(
      "key.revoked",
    );
    const shouted = Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [name.toUpperCase(), value]),
    );
    expect(verifyWebhook(PAYLOAD, shouted, SECRET, { now: NOW }).type).toBe("key.revoked");
  });

  it("accepts the secret without its whsec_ prefix", () => {
    const raw = SECRET.slice("whsec_".length);
    expect(verifyWebhook(PAYLOAD, signed(), raw, { now: NOW }).type).toBe("key.revoked");
  });

  it("refuses a changed payload, id, timestamp or a wrong secret", () => {
    const headers = signed();
    const changed = PAYLOAD.replace("key_1", "key_2");
    expect(refusal(() => verifyWebhook(changed, headers, SECRET, { now: NOW })).code).toBe(
      "invalid_signature",
    );
    const otherId = { ...headers, "webhook-id": "evt_other" };
    expect(refusal(() => verifyWebhook(PAYLOAD, otherId, SECRET, { now: NOW })).code).toBe(
      "invalid_signature",
    );
    const later = { ...headers, "webhook-timestamp": String(Math.floor(NOW / 1000) + 1) };
    expect(refusal(() => verifyWebhook(PAYLOAD, later, SECRET, { now: NOW })).code).toBe(
      "invalid_signature",
    );
    expect(refusal(() => verifyWebhook(PAYLOAD, headers, OTHER, { now: NOW })).code).toBe(
      "invalid_signature",
    );
  });

  it("refuses a timestamp more than 5 minutes old or ahead, and honours toleranceSeconds", () => {
    const old = signed({ at: NOW - 5 * 60_000 - 1_000 });
    expect(refusal(() => verifyWebhook(PAYLOAD, old, SECRET, { now: NOW })).code).toBe(
      "timestamp_out_of_range",
    );
    const ahead = signed({ at: NOW + 5 * 60_000 + 1_000 });
    expect(refusal(() => verifyWebhook(PAYLOAD, ahead, SECRET, { now: NOW })).code).toBe(
      "timestamp_out_of_range",
    );
    const edge = signed({ at: NOW - 5 * 60_000 });
    expect(verifyWebhook(PAYLOAD, edge, SECRET, { now: NOW }).type).toBe("key.revoked");
    const minute = signed({ at: NOW - 61_000 });
    expect(
      refusal(() => verifyWebhook(PAYLOAD, minute, SECRET, { now: NOW, toleranceSeconds: 60 }))
        .code,
    ).toBe("timestamp_out_of_range");
    // The reference refuses the same old and future deliveries against the real clock.
    const realOld = signed({ at: Date.now() - 6 * 60_000 });
    expect(() => new Webhook(SECRET).verify(PAYLOAD, realOld)).toThrow();
    expect(() => verifyWebhook(PAYLOAD, realOld, SECRET)).toThrow(WebhookVerificationError);
  });

  it("passes when one of several signatures is valid, and ignores other versions", () => {
    const headers = signed();
    const good = headers["webhook-signature"];
    const wrong = signed({ secret: OTHER })["webhook-signature"];
    const list = { ...headers, "webhook-signature": `${wrong} v2,${good.slice(3)} ${good}` };
    expect(verifyWebhook(PAYLOAD, list, SECRET, { now: NOW }).type).toBe("key.revoked");
    // The right HMAC under another version label is not a v1 signature.
    const v2 = { ...headers, "webhook-signature": `v2,${good.slice(3)}` };
    expect(refusal(() => verifyWebhook(PAYLOAD, v2, SECRET, { now: NOW })).code).toBe(
      "invalid_signature",
    );
    const truncated = { ...headers, "webhook-signature": good.slice(0, -4) };
    expect(refusal(() => verifyWebhook(PAYLOAD, truncated, SECRET, { now: NOW })).code).toBe(
      "invalid_signature",
    );
  });

  it("says which header is missing, and refuses a malformed timestamp or secret", () => {
    const { "webhook-signature": _signature, ...unsigned } = signed();
    const missing = refusal(() => verifyWebhook(PAYLOAD, unsigned, SECRET, { now: NOW }));
    expect(missing.code).toBe("missing_header");
    expect(missing.message).toContain("webhook-signature");
    const odd = { ...signed(), "webhook-timestamp": "soon" };
    expect(refusal(() => verifyWebhook(PAYLOAD, odd, SECRET, { now: NOW })).code).toBe(
      "invalid_timestamp",
    );
    expect(refusal(() => verifyWebhook(PAYLOAD, signed(), "whsec_$$$", { now: NOW })).code).toBe(
      "invalid_secret",
    );
  });

  it("refuses a validly signed body that is not an event", () => {
    const payload = "not json";
    const headers = signed({ payload });
    expect(refusal(() => verifyWebhook(payload, headers, SECRET, { now: NOW })).code).toBe(
      "invalid_payload",
    );
  });
});
