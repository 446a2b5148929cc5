/**
 * Rate-limit leases across two Latchkey instances behind one load balancer (one PostgreSQL,
 * one Redis): verifiers on either instance share the key's one budget.
 */
import { createVerifier, type Verifier, type VerifyResult } from "latchkey";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { client } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { describeCluster } from "../helpers/stores.js";
import { countingFetch, ownerWithKeys, UNLIMITED, within } from "./support.js";

const LIMIT = 120;

describeCluster("verifier leases across two instances (PostgreSQL + Redis)", () => {
  let a: TestServer;
  let b: TestServer;
  const open: Verifier[] = [];

  function verifierOn(server: TestServer, apiKey: string) {
    const counting = countingFetch();
    const verifier = createVerifier({
      baseUrl: server.url,
      apiKey,
      fetch: counting.fetch,
      cacheTtlMs: 60_000,
      usageFlushMs: 50,
    });
    open.push(verifier);
    return { verifier, ...counting };
  }

  beforeAll(async () => {
    const redis = freshRedisPrefix();
    const env = { ...UNLIMITED, LATCHKEY_RATE_LIMIT_LIVE: String(LIMIT) };
    a = await startTestServer({ store: "postgres", redis, env });
    b = await startTestServer({ redis, env, databaseUrl: a.config.database });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((v) => v.close()));
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it("admits at most the key's limit and at least 90 % of it, from verifiers on both", async () => {
    const owner = await ownerWithKeys(a.url);
    const { id, key } = await owner.key(["services:read"]);
    const fleet = [a, a, b, b, b].map((server) => verifierOn(server, owner.serviceKey));
    await within(5000, async () => fleet.every((v) => v.verifier.streaming));
    const verdicts: VerifyResult[] = [];
    for (let round = 0; round < 40; round++) {
      const answers = await Promise.all(
        fleet.flatMap(({ verifier }) => [0, 1, 2].map(() => verifier.verify(key))),
      );
      verdicts.push(...answers);
    }
    const admitted = verdicts.filter((v) => v.valid).length;
    expect(admitted).toBeLessThanOrEqual(LIMIT);
    expect(admitted).toBeGreaterThanOrEqual(0.9 * LIMIT);
    const asked = fleet.reduce((sum, v) => sum + v.count("POST /v1/keys/verify"), 0);
    expect(asked).toBeLessThan(verdicts.length);
    expect(fleet.every((v) => v.count("POST /v1/keys/verify") > 0)).toBe(true);

    await Promise.all(fleet.map((v) => v.verifier.flushUsage()));
    await a.services.keyVerifier.usage.flush();
    await b.services.keyVerifier.usage.flush();
    const details = await client(a.url).get(`/v1/api-keys/${id}`, { token: owner.accessToken });
    expect(details.body.usage_count).toBe(verdicts.length);
  });

  it("still drops a cached, leased key within a second of its revocation on the other instance", async () => {
    const owner = await ownerWithKeys(a.url);
    const { id, key } = await owner.key(["services:read"]);
    const { verifier, count } = verifierOn(b, owner.serviceKey);
    await within(5000, async () => verifier.streaming);
    expect((await verifier.verify(key)).valid).toBe(true);
    expect((await verifier.verify(key)).valid).toBe(true);
    expect(count("POST /v1/keys/verify")).toBe(1);
    const revoked = await client(a.url).delete(`/v1/api-keys/${id}`, {
      token: owner.accessToken,
    });
    expect(revoked.status).toBe(200);
    const took = await within(1000, async () => !(await verifier.verify(key)).valid);
    expect(took).toBeLessThan(1000);
    expect(await verifier.verify(key)).toMatchObject({ code: "key_revoked" });
  });
});
