/**
 * Webhooks over time, on each store, with the server's clock moved by hand: retries with
 * backoff after a 500 (same webhook-id), an endpoint switched off after 24 h of failures,
 * the scheduler's key.expiring (7 days, 1 day) and key.expired once each, 2fa.disabled, and
 * leaked keys revoked or quarantined (key_leaked) by the owner's policy; and the scheduler's
 * pruning of month-old sign-in failure counts.
 */
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { client, expectError, PASSWORD } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import {
  startReceiver,
  verifiesIndependently,
  type Receiver,
} from "../helpers/webhook-receiver.js";
import { createKey, serviceKey, type Api } from "./api-keys-fixtures.js";
import { authenticatorCode, enableTwoFactor, testClock } from "./twofa-support.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describeEachStore("webhooks over time", (store) => {
  const clock = testClock();
  let server: TestServer;
  let api: Api;
  let receiver: Receiver;
  let staffEmail: string;
  let serial = 0;

  /** A new account, signed in now (tokens last an hour of the moved clock). */
  async function signIn(email = `hooks-${(serial += 1)}-${Date.now()}@example.test`) {
    const signup = await api.post("/v1/auth/signup", { email, password: PASSWORD });
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    return {
      email,
      userId: (signup.body?.user?.id ?? login.body.user?.id) as string,
      token: login.body.access_token as string,
    };
  }

  /**
   * Waits until the sender has recorded its `attempts`-th attempt for the endpoint (the
   * receiver sees a request before the sender records the answer; moving the clock in
   * between would move the retry's schedule too).
   */
  async function recorded(endpointId: string, attempts: number) {
    await expect
      .poll(async () => {
        const row = await server.db
          .selectFrom("webhook_deliveries")
          .select(["attempts", "lease_until"])
          .where("endpoint_id", "=", endpointId)
          .orderBy("created_at")
          .executeTakeFirst();
        return row && row.lease_until === null ? Number(row.attempts) : -1;
      })
      .toBe(attempts);
  }

  async function endpointFor(token: string, events: string[]) {
    const reply = await api.post("/v1/webhooks", { url: receiver.url, events }, { token });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return reply.body as { id: string; secret: string };
  }

  beforeAll(async () => {
    server = await startTestServer({
      store,
      now: clock.now,
      env: { LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true", LATCHKEY_WEBHOOKS_POLL_MS: "30" },
    });
    api = client(server.url);
    staffEmail = (await signIn()).email;
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(async () => {
    await receiver?.close();
  });

  it("retries after a 500 with backoff and the same webhook-id, and logs each attempt", async () => {
    receiver = await startReceiver();
    receiver.answer = (_request, index) => (index < 2 ? 500 : 204);
    const owner = await signIn();
    const endpoint = await endpointFor(owner.token, ["key.created"]);
    await createKey(api, owner.token);
    await receiver.until((r) => r.length === 1);
    await recorded(endpoint.id, 1);
    // Not before its backoff (5 s after the first failure) has passed.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.received).toHaveLength(1);
    clock.advance(5_000);
    await receiver.until((r) => r.length === 2);
    await recorded(endpoint.id, 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.received).toHaveLength(2);
    clock.advance(5 * 60_000);
    await receiver.until((r) => r.length === 3);
    const ids = new Set(receiver.received.map((r) => r.id));
    expect(ids.size).toBe(1);
    for (const r of receiver.received) expect(verifiesIndependently(r, endpoint.secret)).toBe(true);
    const token = (await api.post("/v1/auth/login", { email: owner.email, password: PASSWORD }))
      .body.access_token;
    const log = await api.get(`/v1/webhooks/${endpoint.id}/deliveries`, { token });
    const delivery = log.body.deliveries[0];
    await expect
      .poll(
        async () =>
          (await api.get(`/v1/webhooks/${endpoint.id}/deliveries/${delivery.id}`, { token })).body,
      )
      .toMatchObject({ status: "delivered", attempts: 3, last_status: 204 });
    const details = await api.get(`/v1/webhooks/${endpoint.id}/deliveries/${delivery.id}`, {
      token,
    });
    expect(details.body.attempts_log.map((a: { status: number }) => a.status)).toEqual([
      500, 500, 204,
    ]);
    // A success clears the endpoint's failing mark.
    expect((await api.get(`/v1/webhooks/${endpoint.id}`, { token })).body.failing_since).toBeNull();
  });

  it("switches an endpoint off after 24 h of failures, gives up its queue and audits it", async () => {
    receiver = await startReceiver();
    receiver.answer = () => 503;
    const owner = await signIn();
    const endpoint = await endpointFor(owner.token, ["key.created"]);
    await createKey(api, owner.token);
    await receiver.until((r) => r.length === 1);
    // Retries every backoff step; the endpoint fails throughout.
    for (const step of [5_000, 5 * 60_000, 30 * 60_000, 2 * HOUR, 5 * HOUR, 10 * HOUR, 7 * HOUR]) {
      const before = receiver.received.length;
      await recorded(endpoint.id, before);
      clock.advance(step);
      await receiver.until((r) => r.length === before + 1);
    }
    const token = (await api.post("/v1/auth/login", { email: owner.email, password: PASSWORD }))
      .body.access_token;
    await expect
      .poll(async () => (await api.get(`/v1/webhooks/${endpoint.id}`, { token })).body)
      .toMatchObject({ enabled: false, disabled_reason: "failing" });
    const log = await api.get(`/v1/webhooks/${endpoint.id}/deliveries`, { token });
    expect(log.body.deliveries[0]).toMatchObject({ status: "failed" });
    const rows = await server.db
      .selectFrom("audit_log")
      .select("details")
      .where("user_id", "=", owner.userId)
      .where("event", "=", "webhook_endpoint_disabled")
      .execute();
    expect(rows).toHaveLength(1);
    // No more deliveries to a switched-off endpoint; switched on again, new events flow.
    const sent = receiver.received.length;
    await createKey(api, token);
    clock.advance(30 * 60_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.received).toHaveLength(sent);
    expectError(await api.post(`/v1/webhooks/${endpoint.id}/test`, {}, { token }), 409, "conflict");
    receiver.answer = () => 200;
    const on = await api.patch(`/v1/webhooks/${endpoint.id}`, { enabled: true }, { token });
    expect(on.body).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });
    await api.post(`/v1/webhooks/${endpoint.id}/test`, {}, { token });
    await receiver.until((r) => r.length === sent + 1);
  });

  it("sends key.expiring 7 days and 1 day before, then key.expired, each once", async () => {
    receiver = await startReceiver();
    const owner = await signIn();
    await endpointFor(owner.token, ["key.expiring", "key.expired"]);
    const key = await createKey(api, owner.token, { name: "short", expires_in: "10d" });
    const { scheduler } = server.services;
    const types = () =>
      receiver.received.map((r) => `${r.event.type}:${r.event.data.notice ?? ""}`);
    expect(await scheduler.tick()).toBe(0);
    clock.advance(3.5 * DAY); // 6.5 days left
    // Two runs at once (as two instances would): one publishes, the other finds it done.
    const [first, second] = await Promise.all([scheduler.tick(), scheduler.tick()]);
    expect((first ?? 0) + (second ?? 0)).toBe(1);
    expect(await scheduler.tick()).toBe(0);
    await receiver.until((r) => r.length === 1);
    clock.advance(6 * DAY); // 12 h left
    expect(await scheduler.tick()).toBe(1);
    await receiver.until((r) => r.length === 2);
    clock.advance(DAY); // expired 12 h ago
    expect(await scheduler.tick()).toBe(1);
    expect(await scheduler.tick()).toBe(0);
    await receiver.until((r) => r.length === 3);
    expect(types()).toEqual(["key.expiring:7d", "key.expiring:1d", "key.expired:"]);
    for (const r of receiver.received)
      expect(r.event.data).toMatchObject({ key_id: key.id, name: "short", prefix: key.prefix });
    // A revoked key is not told about.
    const token = (await api.post("/v1/auth/login", { email: owner.email, password: PASSWORD }))
      .body.access_token;
    const gone = await createKey(api, token, { name: "gone", expires_in: "2d" });
    await api.delete(`/v1/api-keys/${gone.id}`, { token });
    clock.advance(1.5 * DAY);
    expect(await scheduler.tick()).toBe(0);
  });

  it("forgets month-old sign-in failure counts of unknown emails on its run", async () => {
    const email = `nobody-${Date.now()}@example.test`;
    await api.post("/v1/auth/login", { email, password: "not-the-password" });
    const count = () =>
      server.db
        .selectFrom("login_failures")
        .select("failures")
        .where("email", "=", email)
        .executeTakeFirst();
    expect((await count())?.failures).toBe(1);
    await server.services.scheduler.tick();
    expect((await count())?.failures).toBe(1);
    clock.advance(31 * DAY);
    await server.services.scheduler.tick();
    expect(await count()).toBeUndefined();
  });

  it("tells when 2FA is turned off", async () => {
    receiver = await startReceiver();
    const owner = await signIn();
    await endpointFor(owner.token, ["2fa.disabled"]);
    const { secret } = await enableTwoFactor(server.url, owner.token, clock.ms);
    clock.steps();
    const off = await api.post(
      "/v1/auth/2fa/disable",
      { code: authenticatorCode(secret, clock.ms) },
      { token: owner.token },
    );
    expect(off.status).toBe(200);
    const [got] = await receiver.until((r) => r.length === 1);
    expect(got!.event).toMatchObject({ type: "2fa.disabled", data: { user_id: owner.userId } });
  });

  it("a leaked key is revoked by default, or quarantined (key_leaked) until its owner releases it", async () => {
    receiver = await startReceiver();
    const owner = await signIn();
    await endpointFor(owner.token, ["key.leaked", "key.revoked"]);
    const staff = await api.post("/v1/auth/login", { email: staffEmail, password: PASSWORD });
    const verifier = await serviceKey(server, api, staff.body.access_token);
    const check = async (key: string) =>
      (await api.post("/v1/keys/verify", { key }, { token: verifier })).body;
    const report = (key: string) =>
      api.post("/v1/keys/leaks", {
        keys: [{ key, url: "https://paste.example/p/1", source: "test" }],
      });

    // Default policy: revoked, with both events.
    expect((await api.get("/v1/keys/leaks/policy", { token: owner.token })).body).toEqual({
      policy: "revoke",
    });
    const first = await createKey(api, owner.token, { name: "leaky" });
    expect((await report(first.key)).status).toBe(202);
    await receiver.until((r) => r.length === 2);
    expect(receiver.ofType("key.leaked")[0]!.event.data).toMatchObject({
      key_id: first.id,
      url: "https://paste.example/p/1",
      outcome: "revoked",
    });
    expect(receiver.ofType("key.revoked")[0]!.event.data).toMatchObject({
      key_id: first.id,
      reason: "leaked",
    });
    expect((await check(first.key)).code).toBe("key_revoked");
    const shown = await api.get(`/v1/api-keys/${first.id}`, { token: owner.token });
    expect(shown.body).toMatchObject({
      status: "revoked",
      leak_source: "https://paste.example/p/1",
    });
    expect(shown.body.leaked_at).not.toBeNull();

    // Quarantine: refused as key_leaked, not revoked; released by the owner, it works again.
    const put = await api.put(
      "/v1/keys/leaks/policy",
      { policy: "quarantine" },
      {
        token: owner.token,
      },
    );
    expect(put.body).toEqual({ policy: "quarantine" });
    const second = await createKey(api, owner.token, { name: "maybe" });
    expect((await check(second.key)).code).toBe("valid");
    await report(second.key);
    expect((await check(second.key)).code).toBe("key_leaked");
    expectError(await api.get("/v1/auth/whoami", { token: second.key }), 401, "key_leaked");
    await receiver.until((r) => r.length === 3);
    expect(receiver.received[2]!.event).toMatchObject({
      type: "key.leaked",
      data: { key_id: second.id, outcome: "quarantined" },
    });
    const held = await api.get(`/v1/api-keys/${second.id}`, { token: owner.token });
    expect(held.body).toMatchObject({ status: "active", enabled: false });
    expect(held.body.leaked_at).not.toBeNull();
    // Reported again: still quarantined, nothing new.
    await report(second.key);
    const released = await api.patch(
      `/v1/api-keys/${second.id}`,
      { enabled: true },
      {
        token: owner.token,
      },
    );
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ enabled: true, leaked_at: null });
    expect((await check(second.key)).code).toBe("valid");
    // A plain disable afterwards is key_disabled, not key_leaked.
    await api.patch(`/v1/api-keys/${second.id}`, { enabled: false }, { token: owner.token });
    expect((await check(second.key)).code).toBe("key_disabled");

    // Changing the policy needs a session with a recent authentication.
    clock.advance(11 * 60_000);
    expectError(
      await api.put("/v1/keys/leaks/policy", { policy: "revoke" }, { token: owner.token }),
      401,
      "reauthentication_required",
    );
    expectError(
      await api.put("/v1/keys/leaks/policy", { policy: "sometimes" }, { token: owner.token }),
      400,
      "invalid_request",
    );
  });
});
