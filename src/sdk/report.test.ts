import { afterEach, describe, expect, it } from "vitest";
import { formatKey } from "../core/key-format.js";
import { createVerifier, type Verifier } from "./verifier.js";

const KEY = formatKey("lk", "live", new Uint8Array(32).fill(7));
const SERVICE = formatKey("lk", "live", new Uint8Array(32).fill(9));

/** A Latchkey that answers verify with a lease, and holds each usage report until told. */
function fakeLatchkey() {
  const reports: unknown[] = [];
  let release: (() => void) | null = null;
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const json = (body: unknown) =>
      new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
    if (url.endsWith("/v1/keys/verify"))
      return json({
        valid: true,
        code: "valid",
        key_id: "key_1",
        owner_id: "usr_1",
        environment: "live",
        scopes: ["services:read"],
        project_id: null,
        expires_at: null,
        ratelimit: { limit: 1e9, remaining: 1e9, reset: Date.now() + 60_000 },
        lease: { granted: 1000, reset: Date.now() + 60_000, reset_in: 60_000 },
      });
    if (url.endsWith("/v1/keys/usage")) {
      reports.push(JSON.parse(String(init?.body)));
      await new Promise<void>((resolve) => (release = resolve));
      return json({ accepted: 1, ignored: 0 });
    }
    return new Response("{}", { status: 404 });
  };
  return { fetch, reports, release: () => release?.() };
}

let verifier: Verifier | null = null;
afterEach(async () => {
  await verifier?.close().catch(() => undefined);
});

describe("verifier usage reports", () => {
  it("sends what was buffered when the flush began, once, however much traffic arrives meanwhile", async () => {
    const latchkey = fakeLatchkey();
    verifier = createVerifier({
      baseUrl: "http://latchkey.test",
      apiKey: SERVICE,
      fetch: latchkey.fetch as typeof fetch,
      revocations: false,
      usageFlushMs: 3_600_000,
    });
    expect((await verifier.verify(KEY)).valid).toBe(true); // asks Latchkey, takes a lease
    for (let i = 0; i < 5; i++) await verifier.verify(KEY); // five cached hits
    const flushing = verifier.flushUsage();
    await new Promise((resolve) => setImmediate(resolve));
    expect(latchkey.reports).toHaveLength(1);
    // Traffic while the report is in flight: these hits are for the next report.
    for (let i = 0; i < 7; i++) await verifier.verify(KEY);
    latchkey.release();
    await flushing;
    expect(latchkey.reports).toHaveLength(1);
    expect(latchkey.reports[0]).toMatchObject({ uses: [{ key_id: "key_1", count: 5 }] });
    const next = verifier.flushUsage();
    await new Promise((resolve) => setImmediate(resolve));
    latchkey.release();
    await next;
    expect(latchkey.reports[1]).toMatchObject({ uses: [{ key_id: "key_1", count: 7 }] });
  });
});
