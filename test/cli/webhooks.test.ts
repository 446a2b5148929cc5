/**
 * `latchkey webhook …` and `latchkey token leak-policy` (SPEC §11) against a real server
 * that may deliver to 127.0.0.1, with a real receiver: the secret printed at creation
 * verifies what arrives; the delivery log, redelivery, switching off and on, deletion.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyWebhook } from "../../src/sdk/webhooks.js";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startReceiver, type Receiver } from "../helpers/hook-receiver.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { Machine, testClock } from "./support.js";

const SECRET = /whsec_[A-Za-z0-9+/]+={0,2}/;

describe.sequential("latchkey webhook", { timeout: 90_000 }, () => {
  let server: TestServer;
  let receiver: Receiver;
  const clock = testClock();
  const machines: Machine[] = [];

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await startTestServer({
      now: clock.now,
      env: { LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true", LATCHKEY_WEBHOOKS_POLL_MS: "50" },
    });
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
    await receiver?.close();
  });

  const user = async () => {
    const api = client(server.url);
    const email = uniqueEmail("hook");
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    return { m, token: login.body.access_token as string };
  };

  /** Polls the delivery log until `id`'s newest delivery is no longer pending. */
  const settled = async (m: Machine, id: string, count = 1) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const log = await m.json(["webhook", "deliveries", id]);
      const done = log.deliveries.filter((d: { status: string }) => d.status !== "pending");
      if (log.deliveries.length >= count && done.length === log.deliveries.length) return log;
      if (Date.now() > deadline) throw new Error(`still pending: ${JSON.stringify(log)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it("creates an endpoint whose one-time secret verifies the test delivery it receives", async () => {
    const { m } = await user();
    const events = await m.run(["webhook", "events"]);
    expect(events.code, events.stderr).toBe(0);
    expect(events.stdout).toMatch(/key\.revoked\s+an API key was revoked/);

    const made = await m.run([
      "webhook",
      "create",
      receiver.url,
      "--event",
      "key.revoked,key.created",
      "--description",
      "CI alerts",
    ]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toContain("shown only once");
    const secret = made.stdout.match(SECRET)![0];
    const id = made.stdout.match(/whe_[0-9A-Za-z_-]+/)![0];

    const listed = await m.run(["webhook", "list"]);
    expect(listed.stdout).toMatch(
      new RegExp(`${id}\\s+${receiver.url}\\s+key.revoked,key.created\\s+enabled`),
    );
    expect(listed.stdout).not.toContain(secret);
    const shown = await m.json(["webhook", "show", id]);
    expect(shown).toMatchObject({ id, url: receiver.url, description: "CI alerts" });
    expect(shown).not.toHaveProperty("secret");

    const before = receiver.received.length;
    const sent = await m.json(["webhook", "test", id]);
    const [delivery] = (await receiver.waitFor(before + 1)).slice(before);
    expect(delivery!.headers["webhook-id"]).toBe(sent.event_id);
    const event = verifyWebhook(delivery!.body, delivery!.headers, secret, { now: clock.now() });
    expect(event.type).toBe("webhook.test");
    expect(event.data).toMatchObject({ endpoint_id: id });

    const log = await settled(m, id);
    expect(log.deliveries[0]).toMatchObject({ type: "webhook.test", status: "delivered" });
    const table = await m.run(["webhook", "deliveries", id]);
    expect(table.stdout).toMatch(/webhook\.test\s+delivered\s+1\s+204 in \d+ ms/);
    const one = await m.run(["webhook", "delivery", id, log.deliveries[0].id]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain(`webhook-id ${sent.event_id}`);
    expect(one.stdout).toMatch(/Attempts\n#\s+AT/);
  });

  it("redelivers with the same webhook-id, and switches an endpoint off and on", async () => {
    const { m } = await user();
    const made = await m.json(["webhook", "create", receiver.url, "--event", "key.created"]);
    expect(made.secret).toMatch(SECRET);
    await m.json(["webhook", "test", made.id]);
    const first = (await settled(m, made.id)).deliveries[0];

    const before = receiver.received.length;
    const again = await m.json(["webhook", "redeliver", made.id, first.id]);
    expect(again).toMatchObject({ event_id: first.event_id, type: "webhook.test" });
    expect(again.id).not.toBe(first.id);
    const [copy] = (await receiver.waitFor(before + 1)).slice(before);
    expect(copy!.headers["webhook-id"]).toBe(first.event_id);
    expect(() =>
      verifyWebhook(copy!.body, copy!.headers, made.secret, { now: clock.now() }),
    ).not.toThrow();
    expect((await settled(m, made.id, 2)).deliveries).toHaveLength(2);

    const off = await m.run(["webhook", "disable", made.id]);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toContain(`Disabled ${made.id}`);
    expect((await m.run(["webhook", "list"])).stdout).toMatch(new RegExp(`${made.id}.*disabled`));
    const refused = await m.run(["webhook", "redeliver", made.id, first.id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("enable it first");
    const on = await m.json(["webhook", "enable", made.id]);
    expect(on).toMatchObject({ id: made.id, enabled: true, disabled_reason: null });

    const edited = await m.json([
      "webhook",
      "edit",
      made.id,
      "--event",
      "key.revoked",
      "--description",
      "ops",
    ]);
    expect(edited).toMatchObject({ events: ["key.revoked"], description: "ops" });

    const gone = await m.run(["webhook", "delete", made.id]);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).toContain(`Deleted webhook ${made.id}`);
    const missing = await m.run(["webhook", "show", made.id]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no such webhook endpoint");
    expect((await m.json(["webhook", "list"])).webhooks).toEqual([]);
  });

  it("rotates the secret after asking for a recent sign-in; the old secret stops verifying", async () => {
    const { m } = await user();
    const made = await m.json(["webhook", "create", receiver.url, "--event", "key.created"]);
    clock.advance(10 * 60_000 + 1_000);
    const refused = await m.run(["webhook", "rotate-secret", made.id]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("--password-stdin");
    const rotated = await m.run(["webhook", "rotate-secret", made.id, "--password-stdin"], {
      input: `${PASSWORD}\n`,
    });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain("shown only once");
    const secret = rotated.stdout.match(SECRET)![0];
    expect(secret).not.toBe(made.secret);

    const before = receiver.received.length;
    await m.json(["webhook", "test", made.id]);
    const [delivery] = (await receiver.waitFor(before + 1)).slice(before);
    const now = { now: clock.now() };
    expect(verifyWebhook(delivery!.body, delivery!.headers, secret, now).type).toBe("webhook.test");
    expect(() => verifyWebhook(delivery!.body, delivery!.headers, made.secret, now)).toThrow(
      /no v1 signature/,
    );
  });

  it("refuses bad input with a clear message and the usage exit code", async () => {
    const { m } = await user();
    const withCredentials = `http://user:pw@127.0.0.1:9/hooks`;
    const refused = await m.run(["webhook", "create", withCredentials, "--event", "key.created"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("webhook_url_not_allowed");
    const scheme = await m.run([
      "webhook",
      "create",
      "ftp://example.com/x",
      "--event",
      "key.created",
    ]);
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toContain("http:// or https://");
    const event = await m.run(["webhook", "create", receiver.url, "--event", "key.exploded"]);
    expect(event.code).toBe(2);
    expect(event.stderr).toContain("unknown event type: key.exploded");
    const noEvent = await m.run(["webhook", "create", receiver.url]);
    expect(noEvent.code).toBe(2);
    const nothing = await m.run(["webhook", "edit", "whe_x"]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain("nothing to change");
    const limit = await m.run(["webhook", "deliveries", "whe_x", "--limit", "0"]);
    expect(limit.code).toBe(2);
    for (const result of [refused, scheme, event, noEvent, nothing, limit])
      expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("shows and sets the leak policy, setting it with step-up", async () => {
    const { m } = await user();
    const shown = await m.run(["token", "leak-policy"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("Leak policy: revoke");
    expect(await m.json(["token", "leak-policy", "quarantine"])).toEqual({ policy: "quarantine" });
    expect(await m.json(["token", "leak-policy"])).toEqual({ policy: "quarantine" });
    clock.advance(10 * 60_000 + 1_000);
    const refused = await m.run(["token", "leak-policy", "revoke"]);
    expect(refused.code).toBe(3);
    const set = await m.run(["token", "leak-policy", "revoke", "--password-stdin"], {
      input: `${PASSWORD}\n`,
    });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain("Leak policy: revoke");
    const bad = await m.run(["token", "leak-policy", "ignore"]);
    expect(bad.code).toBe(2);
  });

  it("runs as the real binary, with JSON output", async () => {
    const { m } = await user();
    const result = await m.spawn(["webhook", "list", "-o", "json"]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ webhooks: [] });
    const types = await m.spawn(["webhook", "events", "-o", "json"]);
    expect(JSON.parse(types.stdout).event_types.map((e: { type: string }) => e.type)).toContain(
      "key.leaked",
    );
  });
});
