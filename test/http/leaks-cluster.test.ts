/**
 * A leak reported to one instance revokes the key on every instance (SPEC §11): two
 * instances on one PostgreSQL database and one Redis prefix, as behind a load balancer.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { formatKey } from "../../src/core/key-format.js";
import { client, PASSWORD } from "../helpers/http.js";
import { openStream } from "../helpers/sse.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { describeCluster } from "../helpers/stores.js";
import { account, createKey, verify, type Api } from "./api-keys-fixtures.js";

/** Polls `check` until it holds; how long that took, or a failure past `ms`. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check()) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not within ${ms} ms`);
}

describeCluster("leak reports across two instances (PostgreSQL + Redis)", () => {
  let a: TestServer;
  let b: TestServer;
  let apiA: Api;
  let apiB: Api;
  let tokenA: string;
  let tokenB: string;

  beforeAll(async () => {
    const redis = freshRedisPrefix();
    const env = { LATCHKEY_LEAK_REPORTS_PER_MINUTE: "4", LATCHKEY_TRUST_PROXY: "1" };
    a = await startTestServer({ store: "postgres", redis, env });
    b = await startTestServer({ redis, env, databaseUrl: a.config.database });
    apiA = client(a.url);
    apiB = client(b.url);
    const staff = await account(a); // staff: may verify and follow revocations
    await apiA.patch(
      `/v1/admin/users/${staff.userId}`,
      { plan: "enterprise" },
      { token: staff.token },
    );
    tokenA = staff.token;
    tokenB = (await apiB.post("/v1/auth/login", { email: staff.email, password: PASSWORD })).body
      .access_token;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it("revokes a key reported anonymously to one instance on the other within 1 s", async () => {
    const key = await createKey(apiA, tokenA, { name: "leaked" });
    // Both instances have the key cached as valid.
    expect((await apiB.get("/v1/auth/whoami", { token: key.key })).status).toBe(200);
    expect((await verify(apiB, tokenB, { key: key.key })).valid).toBe(true);
    const stream = await openStream(b.url, tokenB);
    try {
      await within(2000, async () => stream.state.text.includes("event: ready"));
      const reported = await apiA.post("/v1/keys/leaks", {
        keys: [{ key: key.key, url: "https://paste.example/1" }],
      });
      expect(reported).toMatchObject({ status: 202, body: { received: 1 } });
      const took = await within(1000, async () => {
        const onB = await apiB.get("/v1/auth/whoami", { token: key.key });
        return onB.status === 401 && onB.body.error.code === "key_revoked";
      });
      expect(took).toBeLessThan(1000);
      expect((await verify(apiB, tokenB, { key: key.key })).code).toBe("key_revoked");
      // The revocation stream of the other instance carries it too, for verifiers' caches.
      await within(1000, async () => stream.state.text.includes(key.id));
      expect(stream.state.text).not.toContain(key.key);
    } finally {
      stream.close();
    }
  });

  it("shares one per-address budget between the instances", async () => {
    const headers = { "x-forwarded-for": "203.0.113.50" };
    const unknown = () => ({ keys: [{ key: formatKey("lk", "live", randomBytes(32)) }] });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await apiA.post("/v1/keys/leaks", unknown(), { headers })).status);
      statuses.push((await apiB.post("/v1/keys/leaks", unknown(), { headers })).status);
    }
    // One address, seen by both instances through the trusted proxy hop: one budget of 4.
    expect(statuses).toEqual([202, 202, 202, 202, 429, 429]);
  });
});
