/**
 * Webhooks over real HTTP on each store (SPEC §11): a real receiver gets each event once,
 * signed so that an independent implementation of Standard Webhooks verifies it; retries
 * after a 500 with the same webhook-id; the delivery log, redelivery and test events;
 * SSRF refusals; the events that come from sign-in, sessions, 2FA and verification.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { client, expectError, PASSWORD, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { routeSecurity } from "../helpers/route-security.js";
import { describeEachStore } from "../helpers/stores.js";
import {
  startReceiver,
  verifiesIndependently,
  type Receiver,
} from "../helpers/webhook-receiver.js";
import { account, createKey, serviceKey, type Account, type Api } from "./api-keys-fixtures.js";

const FAST = { LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true", LATCHKEY_WEBHOOKS_POLL_MS: "50" };

async function addEndpoint(api: Api, token: string, url: string, events: string[]) {
  const reply = await api.post("/v1/webhooks", { url, events }, { token });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply.body as { id: string; secret: string; url: string; events: string[] };
}

describeEachStore("webhooks", (store) => {
  let server: TestServer;
  let api: Api;
  let staff: Account;
  let receiver: Receiver;

  beforeAll(async () => {
    server = await startTestServer({
      store,
      env: { ...FAST, LATCHKEY_RATE_LIMIT_TEST: "3" },
    });
    api = client(server.url);
    staff = await account(server);
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(async () => {
    await receiver?.close();
  });

  routeSecurity("webhooks", () => server);

  it("delivers each key event once, signed so an independent verifier accepts it", async () => {
    receiver = await startReceiver();
    const owner = await account(server);
    const endpoint = await addEndpoint(api, owner.token, receiver.url, [
      "key.created",
      "key.rotated",
      "key.revoked",
    ]);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const key = await createKey(api, owner.token, { name: "deploy" });
    const rotated = await api.post(`/v1/api-keys/${key.id}/rotate`, {}, { token: owner.token });
    expect(rotated.status).toBe(201);
    expect((await api.delete(`/v1/api-keys/${key.id}`, { token: owner.token })).status).toBe(200);
    await receiver.until((r) => r.some((x) => x.event.type === "key.revoked"));
    // Time for any duplicate to show up.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const types = receiver.received.map((r) => r.event.type).sort();
    expect(types).toEqual(["key.created", "key.revoked", "key.rotated"]);
    const ids = receiver.received.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of receiver.received) {
      expect(verifiesIndependently(r, endpoint.secret)).toBe(true);
      expect(verifiesIndependently(r, endpoint.secret.slice(0, -4) + "AAA=")).toBe(false);
      expect(r.headers["content-type"]).toBe("application/json");
      expect(Math.abs(Number(r.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(5);
      expect(r.id).toMatch(/^evt_/);
    }
    const created = receiver.ofType("key.created")[0]!.event;
    expect(created.data).toMatchObject({
      user_id: owner.userId,
      key_id: key.id,
      name: "deploy",
      prefix: key.prefix,
    });
    expect(JSON.stringify(receiver.received.map((r) => r.body))).not.toContain(key.key);
    expect(receiver.ofType("key.rotated")[0]!.event.data).toMatchObject({
      key_id: key.id,
      new_key_id: rotated.body.id,
    });
    // The endpoint's delivery log holds the three, delivered on the first attempt.
    const log = await api.get(`/v1/webhooks/${endpoint.id}/deliveries`, { token: owner.token });
    expect(log.status).toBe(200);
    expect(log.body.deliveries).toHaveLength(3);
    for (const d of log.body.deliveries) {
      expect(d).toMatchObject({ status: "delivered", attempts: 1, last_status: 200 });
      expect(d.last_latency_ms).toBeGreaterThanOrEqual(0);
    }
  });

  it("lists, shows and edits endpoints without their secret; others' answer 404", async () => {
    receiver = await startReceiver();
    const owner = await account(server);
    const other = await account(server);
    const endpoint = await addEndpoint(api, owner.token, receiver.url, ["key.created"]);
    const list = await api.get("/v1/webhooks", { token: owner.token });
    expect(list.body.webhooks).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(endpoint.secret);
    const shown = await api.get(`/v1/webhooks/${endpoint.id}`, { token: owner.token });
    expect(shown.body).toMatchObject({ id: endpoint.id, enabled: true, events: ["key.created"] });
    expect(shown.body.secret).toBeUndefined();
    const patched = await api.patch(
      `/v1/webhooks/${endpoint.id}`,
      { events: ["key.revoked", "key.leaked"], description: "alerts" },
      { token: owner.token },
    );
    expect(patched.body).toMatchObject({
      events: ["key.revoked", "key.leaked"],
      description: "alerts",
    });
    expectError(
      await api.get(`/v1/webhooks/${endpoint.id}`, { token: other.token }),
      404,
      "not_found",
    );
    expectError(
      await api.delete(`/v1/webhooks/${endpoint.id}`, { token: other.token }),
      404,
      "not_found",
    );
    expect((await api.get("/v1/webhooks", { token: other.token })).body.webhooks).toEqual([]);
    const types = await api.get("/v1/webhooks/event-types", { token: owner.token });
    expect(types.body.event_types.map((t: { type: string }) => t.type)).toContain("key.expiring");
    expectError(
      await api.post(
        "/v1/webhooks",
        { url: receiver.url, events: ["key.nonsense"] },
        { token: owner.token },
      ),
      400,
      "invalid_request",
    );
    expectError(
      await api.post("/v1/webhooks", { url: receiver.url, events: [] }, { token: owner.token }),
      400,
      "invalid_request",
    );
    expect((await api.delete(`/v1/webhooks/${endpoint.id}`, { token: owner.token })).status).toBe(
      204,
    );
    expect((await api.get("/v1/webhooks", { token: owner.token })).body.webhooks).toEqual([]);
  });

  it("a rotated secret signs from then on; the old one no longer verifies", async () => {
    receiver = await startReceiver();
    const owner = await account(server);
    const endpoint = await addEndpoint(api, owner.token, receiver.url, ["key.created"]);
    const rotated = await api.post(
      `/v1/webhooks/${endpoint.id}/rotate-secret`,
      {},
      {
        token: owner.token,
      },
    );
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    await createKey(api, owner.token);
    const [got] = await receiver.until((r) => r.length === 1);
    expect(verifiesIndependently(got!, rotated.body.secret)).toBe(true);
    expect(verifiesIndependently(got!, endpoint.secret)).toBe(false);
  });

  it("sends a test event, and redelivers a delivery as a new one with the same webhook-id", async () => {
    receiver = await startReceiver();
    const owner = await account(server);
    const endpoint = await addEndpoint(api, owner.token, receiver.url, ["key.revoked"]);
    const test = await api.post(`/v1/webhooks/${endpoint.id}/test`, {}, { token: owner.token });
    expect(test.status).toBe(202);
    const [first] = await receiver.until((r) => r.length === 1);
    expect(first!.event.type).toBe("webhook.test");
    expect(first!.id).toBe(test.body.event_id);
    const log = await api.get(`/v1/webhooks/${endpoint.id}/deliveries`, { token: owner.token });
    const delivery = log.body.deliveries[0];
    const again = await api.post(
      `/v1/webhooks/${endpoint.id}/deliveries/${delivery.id}/redeliver`,
      {},
      { token: owner.token },
    );
    expect(again.status).toBe(202);
    expect(again.body.id).not.toBe(delivery.id);
    const [, second] = await receiver.until((r) => r.length === 2);
    expect(second!.id).toBe(first!.id);
    expect(verifiesIndependently(second!, endpoint.secret)).toBe(true);
    const details = await api.get(`/v1/webhooks/${endpoint.id}/deliveries/${again.body.id}`, {
      token: owner.token,
    });
    await expect
      .poll(
        async () =>
          (
            await api.get(`/v1/webhooks/${endpoint.id}/deliveries/${again.body.id}`, {
              token: owner.token,
            })
          ).body.status,
      )
      .toBe("delivered");
    expect(details.body.event_id).toBe(first!.id);
    expectError(
      await api.post(
        `/v1/webhooks/${endpoint.id}/deliveries/whd_nothing/redeliver`,
        {},
        {
          token: owner.token,
        },
      ),
      404,
      "not_found",
    );
  });

  it("pages the delivery log newest first with a cursor", async () => {
    receiver = await startReceiver();
    const owner = await account(server);
    const endpoint = await addEndpoint(api, owner.token, receiver.url, ["key.created"]);
    for (let i = 0; i < 5; i += 1)
      await api.post(`/v1/webhooks/${endpoint.id}/test`, {}, { token: owner.token });
    await receiver.until((r) => r.length === 5);
    const first = await api.get(`/v1/webhooks/${endpoint.id}/deliveries?limit=2`, {
      token: owner.token,
    });
    expect(first.body.deliveries).toHaveLength(2);
    const seen = first.body.deliveries.map((d: { id: string }) => d.id);
    let before = first.body.next_before;
    while (before) {
      const page = await api.get(
        `/v1/webhooks/${endpoint.id}/deliveries?limit=2&before=${before}`,
        { token: owner.token },
      );
      seen.push(...page.body.deliveries.map((d: { id: string }) => d.id));
      before = page.body.next_before;
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
  });

  it("tells of a reused refresh token and of a burst of failed sign-ins, once each", async () => {
    receiver = await startReceiver();
    const user = await signupAndLogin(server.url);
    await addEndpoint(api, user.accessToken, receiver.url, [
      "session.refresh_reused",
      "login.failed_burst",
    ]);
    // A spent refresh token presented again.
    const fresh = await api.post("/v1/auth/refresh", { refresh_token: user.refreshToken });
    expect(fresh.status).toBe(200);
    expect((await api.post("/v1/auth/refresh", { refresh_token: user.refreshToken })).status).toBe(
      401,
    );
    await receiver.until((r) => r.some((x) => x.event.type === "session.refresh_reused"));
    // Ten failed sign-ins make one burst event; more within the hour, none.
    for (let i = 0; i < 12; i += 1)
      await api.post(
        "/v1/auth/login",
        { email: user.email, password: `${PASSWORD}-wrong` },
        { headers: { "x-forwarded-for": `203.0.113.${i}` } },
      );
    await receiver.until((r) => r.some((x) => x.event.type === "login.failed_burst"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.ofType("login.failed_burst")).toHaveLength(1);
    expect(receiver.ofType("login.failed_burst")[0]!.event.data).toMatchObject({
      user_id: user.userId,
      failures: 10,
    });
    expect(receiver.ofType("session.refresh_reused")).toHaveLength(1);
    expect(receiver.ofType("session.refresh_reused")[0]!.event.data).toMatchObject({
      user_id: user.userId,
    });
  });

  it("tells of a rate-limited key once an hour, however often it is refused", async () => {
    receiver = await startReceiver();
    const owner = await account(server);
    await addEndpoint(api, owner.token, receiver.url, ["key.rate_limited"]);
    const verifier = await serviceKey(server, api, staff.token);
    const key = await createKey(api, owner.token, { name: "busy", environment: "test" });
    // 3 a minute for test keys here: the rest are refused as rate_limited.
    for (let i = 0; i < 8; i += 1)
      await api.post("/v1/keys/verify", { key: key.key }, { token: verifier });
    await receiver.until((r) => r.some((x) => x.event.type === "key.rate_limited"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.ofType("key.rate_limited")).toHaveLength(1);
    expect(receiver.ofType("key.rate_limited")[0]!.event.data).toMatchObject({
      key_id: key.id,
      user_id: owner.userId,
      limit: "key",
    });
  });

  it("needs step-up to add an endpoint; an API key cannot", async () => {
    const owner = await account(server);
    const key = await createKey(api, owner.token, {
      name: "hooks",
      scopes: ["webhooks:write", "webhooks:read"],
    });
    expectError(
      await api.post(
        "/v1/webhooks",
        { url: "https://hooks.example.com/x", events: ["key.created"] },
        { token: key.key },
      ),
      403,
      "forbidden",
    );
    // A key can read them.
    expect((await api.get("/v1/webhooks", { token: key.key })).status).toBe(200);
  });
});

describe("webhook targets (SSRF)", () => {
  let server: TestServer;
  let api: Api;
  let owner: Account;

  beforeAll(async () => {
    server = await startTestServer({ env: { LATCHKEY_WEBHOOKS_POLL_MS: "50" } });
    api = client(server.url);
    owner = await account(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each([
    "http://127.0.0.1:9/x",
    "http://localhost/x",
    "http://10.1.2.3/x",
    "http://172.16.0.1/x",
    "http://192.168.1.1/x",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://[fd00::1]/x",
    "http://0.0.0.0/x",
    "ftp://example.com/x",
    "http://user:pass@example.com/x",
    "not a url",
  ])("refuses %s", async (url) => {
    expectError(
      await api.post("/v1/webhooks", { url, events: ["key.created"] }, { token: owner.token }),
      400,
      "webhook_url_not_allowed",
    );
  });

  it("checks the address again at delivery: a stored URL that resolves to loopback gets nothing", async () => {
    const receiver = await startReceiver();
    try {
      const { port } = new URL(receiver.url);
      // Saved as a public address, then (as after a DNS change) pointing at this machine.
      const endpoint = await addEndpoint(api, owner.token, "https://93.184.215.14/hooks", [
        "key.created",
      ]);
      await server.db
        .updateTable("webhook_endpoints")
        .set({ url: `http://localhost:${port}/hooks` })
        .where("id", "=", endpoint.id)
        .execute();
      await createKey(api, owner.token);
      await expect
        .poll(
          async () =>
            (await api.get(`/v1/webhooks/${endpoint.id}/deliveries`, { token: owner.token })).body
              .deliveries[0]?.last_error ?? null,
          { timeout: 5000 },
        )
        .toMatch(/not a public address/);
      expect(receiver.received).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });
});
