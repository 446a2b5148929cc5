/**
 * The SDK client's webhook methods and `verifyWebhook` (SPEC §11) against a real server that
 * may deliver to 127.0.0.1, with a real receiver: the package as a service installs it.
 */
import { Latchkey, LatchkeyApiError, verifyWebhook, WebhookVerificationError } from "latchkey";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startReceiver, type Receiver } from "../helpers/hook-receiver.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";

describeEachStore("SDK client: webhooks", (store) => {
  let server: TestServer;
  let receiver: Receiver;
  let ms = Date.now();

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await startTestServer({
      store,
      now: () => ms,
      env: { LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true", LATCHKEY_WEBHOOKS_POLL_MS: "50" },
    });
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  const signedIn = async () => {
    const email = uniqueEmail("sdk-hook");
    const sdk = new Latchkey({ baseUrl: server.url });
    await sdk.auth.signup({ email, password: PASSWORD });
    await sdk.auth.login({ email, password: PASSWORD });
    return sdk;
  };

  const settled = async (sdk: Latchkey, id: string, count: number) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { deliveries } = await sdk.webhooks.deliveries(id);
      if (deliveries.length >= count && deliveries.every((d) => d.status !== "pending"))
        return deliveries;
      if (Date.now() > deadline) throw new Error(`still pending: ${JSON.stringify(deliveries)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it("manages an endpoint, and verifyWebhook accepts the events it receives", async () => {
    const sdk = await signedIn();
    const { event_types } = await sdk.webhooks.eventTypes();
    expect(event_types.map((e) => e.type)).toContain("key.created");

    const created = await sdk.webhooks.create({
      url: receiver.url,
      events: ["key.created"],
      description: "audit sink",
    });
    expect(created.secret).toMatch(/^whsec_/);
    expect((await sdk.webhooks.list()).webhooks.map((w) => w.id)).toEqual([created.id]);
    expect(await sdk.webhooks.get(created.id)).not.toHaveProperty("secret");

    // A real event: creating a key is delivered as key.created.
    const before = receiver.received.length;
    const key = await sdk.keys.create({ name: "ci", scopes: ["services:read"] });
    const [delivery] = (await receiver.waitFor(before + 1)).slice(before);
    const event = verifyWebhook<{ key_id?: string }>(
      delivery!.body,
      delivery!.headers,
      created.secret,
      { now: ms },
    );
    expect(event.type).toBe("key.created");
    expect(JSON.stringify(event.data)).toContain(key.id);
    // The same body as a string, with a fetch Headers, verifies too; a changed one does not.
    const headers = new Headers(delivery!.headers as Record<string, string>);
    expect(verifyWebhook(delivery!.body.toString(), headers, created.secret, { now: ms })).toEqual(
      event,
    );
    const changed = delivery!.body.toString().replace(key.id, "key_other");
    expect(() => verifyWebhook(changed, headers, created.secret, { now: ms })).toThrow(
      WebhookVerificationError,
    );

    const sent = await sdk.webhooks.sendTest(created.id);
    const log = await settled(sdk, created.id, 2);
    const test = log.find((d) => d.event_id === sent.event_id)!;
    expect(test).toMatchObject({ type: "webhook.test", status: "delivered", last_status: 204 });
    const details = await sdk.webhooks.delivery(created.id, test.id);
    expect(details.attempts_log).toHaveLength(1);
    expect(details.attempts_log[0]).toMatchObject({ attempt: 1, status: 204 });

    const page = await sdk.webhooks.deliveries(created.id, { limit: 1 });
    expect(page.deliveries).toHaveLength(1);
    const older = await sdk.webhooks.deliveries(created.id, { before: page.next_before! });
    expect(older.deliveries.map((d) => d.id)).not.toContain(page.deliveries[0]!.id);

    const again = await sdk.webhooks.redeliver(created.id, test.id);
    expect(again).toMatchObject({ event_id: sent.event_id, type: "webhook.test" });
    expect(await settled(sdk, created.id, 3)).toHaveLength(3);

    const off = await sdk.webhooks.update(created.id, { enabled: false });
    expect(off).toMatchObject({ enabled: false, disabled_reason: "owner" });
    const on = await sdk.webhooks.update(created.id, { enabled: true, events: ["key.revoked"] });
    expect(on).toMatchObject({ enabled: true, events: ["key.revoked"] });

    const rotated = await sdk.webhooks.rotateSecret(created.id);
    expect(rotated.secret).not.toBe(created.secret);
    const mark = receiver.received.length;
    await sdk.webhooks.sendTest(created.id);
    const [next] = (await receiver.waitFor(mark + 1)).slice(mark);
    expect(verifyWebhook(next!.body, next!.headers, rotated.secret, { now: ms }).type).toBe(
      "webhook.test",
    );
    expect(() => verifyWebhook(next!.body, next!.headers, created.secret, { now: ms })).toThrow(
      WebhookVerificationError,
    );

    await sdk.webhooks.remove(created.id);
    await expect(sdk.webhooks.get(created.id)).rejects.toMatchObject({ code: "not_found" });
  });

  it("refuses what the server refuses, with its error code", async () => {
    const sdk = await signedIn();
    await expect(
      sdk.webhooks.create({ url: "http://u:p@127.0.0.1:9/x", events: ["key.created"] }),
    ).rejects.toMatchObject({ code: "webhook_url_not_allowed", status: 400 });
    ms += 11 * 60_000;
    const late = sdk.webhooks.create({ url: receiver.url, events: ["key.created"] });
    await expect(late).rejects.toBeInstanceOf(LatchkeyApiError);
    await expect(late).rejects.toMatchObject({ code: "reauthentication_required" });
    await sdk.auth.reauthenticate({ password: PASSWORD });
    expect(
      (await sdk.webhooks.create({ url: receiver.url, events: ["key.created"] })).secret,
    ).toMatch(/^whsec_/);
  });

  it("reads and sets the leak policy", async () => {
    const sdk = await signedIn();
    expect(await sdk.keys.leakPolicy()).toEqual({ policy: "revoke" });
    expect(await sdk.keys.setLeakPolicy("quarantine")).toEqual({ policy: "quarantine" });
    expect(await sdk.keys.leakPolicy()).toEqual({ policy: "quarantine" });
  });
});
