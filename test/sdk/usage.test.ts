/**
 * Cached hits count: a verifier's cached answers appear in the key's usage exactly as
 * verifications would, and they spend the key's rate limit through leases — real HTTP
 * against a real server, on each store.
 */
import { createVerifier, type Verifier, type VerifyResult } from "latchkey";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { client } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { countingFetch, ownerWithKeys, UNLIMITED, within } from "./support.js";

const LIMIT = 100;

describeEachStore("verifier usage and rate-limit leases", (store) => {
  let server: TestServer;
  const open: Verifier[] = [];

  function verifierFor(apiKey: string, options: Record<string, unknown> = {}) {
    const counting = countingFetch();
    const errors: Error[] = [];
    const verifier = createVerifier({
      baseUrl: server.url,
      apiKey,
      fetch: counting.fetch,
      cacheTtlMs: 60_000,
      onError: (error) => errors.push(error),
      ...options,
    });
    open.push(verifier);
    return { verifier, errors, ...counting };
  }

  beforeAll(async () => {
    server = await startTestServer({
      store,
      env: { ...UNLIMITED, LATCHKEY_RATE_LIMIT_LIVE: String(LIMIT) },
    });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((v) => v.close()));
  });
  afterAll(async () => server?.close());

  async function details(owner: { accessToken: string }, id: string) {
    await server.services.keyVerifier.usage.flush();
    const api = client(server.url);
    const key = await api.get(`/v1/api-keys/${id}`, { token: owner.accessToken });
    const activity = await api.get(`/v1/api-keys/${id}/activity?limit=1000`, {
      token: owner.accessToken,
    });
    return { ...key.body, activity: activity.body.activity as any[] } as any;
  }

  it("counts every cached hit in the key's usage, by endpoint, with bounded activity", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"], { environment: "test" });
    const { verifier, count, errors } = verifierFor(owner.serviceKey, { usageFlushMs: 60_000 });
    await within(5000, async () => verifier.streaming);
    const N = 57;
    for (let i = 0; i < N; i++) {
      const endpoint = i % 2 === 0 ? "GET /a" : "GET /b";
      const verdict = await verifier.verify(key, { scopes: ["services:read"], endpoint });
      expect(verdict.valid).toBe(true);
    }
    expect(count("POST /v1/keys/verify")).toBe(1);
    // Nothing reported before the flush: the count is the one verification Latchkey saw.
    expect((await details(owner, id)).usage_count).toBe(1);

    await verifier.flushUsage();
    expect(count("POST /v1/keys/usage")).toBe(1);
    const after = await details(owner, id);
    expect(after.usage_count).toBe(N);
    expect(after.last_used_at).not.toBeNull();
    expect(after.usage.by_endpoint).toEqual([
      { endpoint: "GET /a", count: 29 },
      { endpoint: "GET /b", count: 28 },
    ]);
    expect(after.activity.length).toBeLessThanOrEqual(3);
    expect(after.activity.reduce((sum: number, a: any) => sum + a.count, 0)).toBe(N);
    expect(errors).toEqual([]);
  });

  it("counts the hits a scope refusal or a project refusal answered from the cache too", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"], { environment: "test" });
    const { verifier } = verifierFor(owner.serviceKey, { usageFlushMs: 60_000 });
    expect((await verifier.verify(key, { scopes: ["services:read"] })).valid).toBe(true);
    const denied = await verifier.verify(key, { scopes: ["services:write"], endpoint: "POST /d" });
    expect(denied).toMatchObject({ code: "scope_insufficient" });
    await verifier.flushUsage();
    const after = await details(owner, id);
    expect(after.usage_count).toBe(2);
    expect(after.activity.map((a: any) => [a.endpoint, a.outcome])).toContainEqual([
      "POST /d",
      "scope_insufficient",
    ]);
  });

  it("reports on its own every usageFlushMs, and what is left on close()", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"], { environment: "test" });
    const periodic = verifierFor(owner.serviceKey, { usageFlushMs: 100 });
    for (let i = 0; i < 10; i++) expect((await periodic.verifier.verify(key)).valid).toBe(true);
    await within(3000, async () => (await details(owner, id)).usage_count === 10);

    const closing = verifierFor(owner.serviceKey, { usageFlushMs: 60_000 });
    for (let i = 0; i < 5; i++) expect((await closing.verifier.verify(key)).valid).toBe(true);
    await closing.verifier.close();
    expect((await details(owner, id)).usage_count).toBe(15);
  });

  it("keeps hits it could not report and sends them with the next report", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"], { environment: "test" });
    let down = false;
    const { verifier, errors } = verifierFor(owner.serviceKey, {
      usageFlushMs: 60_000,
      fetch: (input: RequestInfo | URL, init?: RequestInit) => {
        const url = input instanceof Request ? input.url : String(input);
        if (down && url.endsWith("/v1/keys/usage"))
          return Promise.reject(new TypeError("fetch failed"));
        return fetch(input, init);
      },
    });
    await within(5000, async () => verifier.streaming);
    for (let i = 0; i < 6; i++) expect((await verifier.verify(key)).valid).toBe(true);
    down = true;
    await verifier.flushUsage(); // must not throw
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining("5 cached hits")]);
    expect((await details(owner, id)).usage_count).toBe(1);
    for (let i = 0; i < 4; i++) expect((await verifier.verify(key)).valid).toBe(true);
    down = false;
    await verifier.flushUsage();
    expect((await details(owner, id)).usage_count).toBe(10);
  });

  it("holds a key's per-minute limit across verifiers: at most the limit, at least 90 % of it", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"]);
    const fleet = Array.from({ length: 4 }, () =>
      verifierFor(owner.serviceKey, { usageFlushMs: 50 }),
    );
    await within(5000, async () => fleet.every((v) => v.verifier.streaming));
    const verdicts: VerifyResult[] = [];
    for (let round = 0; round < 40; round++) {
      const answers = await Promise.all(
        fleet.flatMap(({ verifier }) =>
          [0, 1, 2].map(() => verifier.verify(key, { endpoint: "GET /hammer" })),
        ),
      );
      verdicts.push(...answers);
    }
    const admitted = verdicts.filter((v) => v.valid).length;
    expect(admitted).toBeLessThanOrEqual(LIMIT);
    expect(admitted).toBeGreaterThanOrEqual(0.9 * LIMIT);
    const refused = verdicts.filter((v) => !v.valid);
    expect(new Set(refused.map((v) => !v.valid && v.code))).toEqual(new Set(["rate_limited"]));
    // Cached answers did the work: far fewer verifications than admissions.
    const asked = fleet.reduce((sum, v) => sum + v.count("POST /v1/keys/verify"), 0);
    expect(asked).toBeLessThan(verdicts.length);
    // And every attempt is in the key's usage, answered by Latchkey or from a cache.
    await Promise.all(fleet.map((v) => v.verifier.flushUsage()));
    expect((await details(owner, id)).usage_count).toBe(verdicts.length);
  });

  it("never caches a rate-limited answer", async () => {
    const owner = await ownerWithKeys(server.url);
    const { key } = await owner.key(["services:read"]);
    const { verifier, count } = verifierFor(owner.serviceKey);
    let valid = 0;
    for (let i = 0; i < LIMIT + 20; i++) if ((await verifier.verify(key)).valid) valid += 1;
    expect(valid).toBeLessThanOrEqual(LIMIT);
    const before = count("POST /v1/keys/verify");
    expect(await verifier.verify(key)).toMatchObject({ code: "rate_limited", status: 429 });
    expect(await verifier.verify(key)).toMatchObject({ code: "rate_limited" });
    expect(count("POST /v1/keys/verify")).toBe(before + 2);
  });
});
