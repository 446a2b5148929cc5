/**
 * Webhooks across two instances on one PostgreSQL database and one Redis prefix, as behind a
 * load balancer: both senders poll the one outbox, and each event reaches the receiver
 * exactly once between them; the scheduler's turn is taken by one instance at a time; a
 * quarantined leaked key is refused on the other instance within 1 s.
 */
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { client, PASSWORD } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { describeCluster } from "../helpers/stores.js";
import {
  startReceiver,
  verifiesIndependently,
  type Receiver,
} from "../helpers/webhook-receiver.js";
import { account, createKey, verify, type Api } from "./api-keys-fixtures.js";

describeCluster("webhooks across two instances (PostgreSQL + Redis)", () => {
  let a: TestServer;
  let b: TestServer;
  let apiA: Api;
  let apiB: Api;
  let receiver: Receiver;

  beforeAll(async () => {
    const redis = freshRedisPrefix();
    const env = {
      LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true",
      LATCHKEY_WEBHOOKS_POLL_MS: "20",
      // Instances of one install share the master key: either may open an endpoint's secret.
      LATCHKEY_MASTER_KEY: randomBytes(32).toString("hex"),
    };
    a = await startTestServer({ store: "postgres", redis, env });
    b = await startTestServer({ redis, env, databaseUrl: a.config.database });
    apiA = client(a.url);
    apiB = client(b.url);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });
  afterEach(async () => {
    await receiver?.close();
  });

  it("delivers each event exactly once between the two instances", async () => {
    receiver = await startReceiver();
    const staff = await account(a);
    await apiA.patch(
      `/v1/admin/users/${staff.userId}`,
      { plan: "enterprise" },
      { token: staff.token },
    );
    const endpoint = await apiA.post(
      "/v1/webhooks",
      { url: receiver.url, events: ["key.created", "key.revoked"] },
      { token: staff.token },
    );
    expect(endpoint.status).toBe(201);
    const tokenB = (await apiB.post("/v1/auth/login", { email: staff.email, password: PASSWORD }))
      .body.access_token;
    // Events made on both instances, interleaved, some at once.
    const made: string[] = [];
    for (let round = 0; round < 5; round += 1) {
      const keys = await Promise.all([
        createKey(apiA, staff.token, { name: `a${round}` }),
        createKey(apiB, tokenB, { name: `b${round}` }),
        createKey(apiA, staff.token, { name: `c${round}` }),
      ]);
      made.push(...keys.map((k) => k.id));
      await Promise.all(
        keys.slice(0, 2).map((k, i) =>
          (i === 0 ? apiB : apiA).delete(`/v1/api-keys/${k.id}`, {
            token: i === 0 ? tokenB : staff.token,
          }),
        ),
      );
    }
    const expected = made.length + 10;
    await receiver.until((r) => r.length >= expected, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.received).toHaveLength(expected);
    const ids = receiver.received.map((r) => r.id);
    expect(new Set(ids).size).toBe(expected);
    for (const r of receiver.received)
      expect(verifiesIndependently(r, endpoint.body.secret)).toBe(true);
    const created = receiver
      .ofType("key.created")
      .map((r) => r.event.data.key_id)
      .sort();
    expect(created).toEqual([...made].sort());
    // One delivery row each, each delivered on one attempt.
    const rows = await a.db
      .selectFrom("webhook_deliveries")
      .select(["attempts", "delivered_at"])
      .where("endpoint_id", "=", endpoint.body.id)
      .execute();
    expect(rows).toHaveLength(expected);
    expect(rows.every((row) => Number(row.attempts) === 1 && row.delivered_at !== null)).toBe(true);
  });

  it("lets one instance at a time take the scheduler's turn", async () => {
    const results = await Promise.all([
      a.services.scheduler.tick(),
      b.services.scheduler.tick(),
      a.services.scheduler.tick(),
    ]);
    // The same instance never runs twice at once; across the two, the advisory lock decides.
    expect(results.filter((r) => r !== null).length).toBeGreaterThanOrEqual(1);
    let held = 0;
    let most = 0;
    const hold = async () => {
      held += 1;
      most = Math.max(most, held);
      await new Promise((resolve) => setTimeout(resolve, 100));
      held -= 1;
      return true;
    };
    const turns = await Promise.all([
      a.deps.store.exclusive("test:turn", hold),
      b.deps.store.exclusive("test:turn", hold),
    ]);
    expect(most).toBe(1);
    expect(turns.filter((t) => t === true)).toHaveLength(1);
    // Released: the next caller gets it.
    expect(await b.deps.store.exclusive("test:turn", async () => "again")).toBe("again");
  });

  it("quarantines a leaked key on the other instance within 1 s", async () => {
    const owner = await account(a);
    await apiA.put("/v1/keys/leaks/policy", { policy: "quarantine" }, { token: owner.token });
    const staff = await apiB.post("/v1/auth/login", {
      email: (
        await a.db
          .selectFrom("users")
          .select("email")
          .where("is_staff", "=", 1)
          .executeTakeFirstOrThrow()
      ).email,
      password: PASSWORD,
    });
    const verifierToken = staff.body.access_token as string;
    const key = await createKey(apiA, owner.token, { name: "maybe-leaked" });
    expect((await verify(apiB, verifierToken, { key: key.key })).valid).toBe(true);
    expect((await apiB.get("/v1/auth/whoami", { token: key.key })).status).toBe(200);
    const reported = await apiA.post("/v1/keys/leaks", { keys: [{ key: key.key }] });
    expect(reported.status).toBe(202);
    const started = performance.now();
    while ((await verify(apiB, verifierToken, { key: key.key })).code !== "key_leaked") {
      expect(performance.now() - started).toBeLessThan(1000);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await apiB.get("/v1/auth/whoami", { token: key.key })).body.error.code).toBe(
      "key_leaked",
    );
  });
});
