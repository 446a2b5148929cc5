import { afterEach, describe, expect, it } from "vitest";
import { testServices, type TestDeps } from "../../../test/store/deps.js";
import {
  startReceiver,
  verifiesIndependently,
  type Receiver,
} from "../../../test/helpers/webhook-receiver.js";

describe("WebhookSender", () => {
  let t: TestDeps;
  let receiver: Receiver;
  afterEach(async () => {
    await receiver?.close();
    await t?.close();
  });

  it("signs the timestamp it sends, however the clock moves while it prepares the request", async () => {
    receiver = await startReceiver();
    // Every reading of the clock is a second later than the one before.
    let ms = Date.now();
    t = await testServices({
      env: { LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true" },
      deps: { now: () => (ms += 1000) },
    });
    const { store, box } = t.deps;
    const at = Date.now();
    await store.users.insert({
      id: "usr_hook",
      email: "hook@example.test",
      password_hash: "x",
      role: "owner",
      is_staff: 0,
      is_service: 0,
      email_verified_at: null,
      plan: "free",
      disabled: 0,
      leak_policy: "revoke",
      created_at: at,
      updated_at: at,
    });
    const secret = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVzISE=";
    await store.webhooks.insertEndpoint({
      id: "whe_clock",
      owner_id: "usr_hook",
      url: receiver.url,
      description: null,
      events: '["key.created"]',
      secret_sealed: box.seal(secret, "webhook:whe_clock"),
      enabled: 1,
      disabled_reason: null,
      failing_since: null,
      created_at: at,
      updated_at: at,
    });
    await t.services.webhooks.sendTest("usr_hook", "whe_clock");
    expect(await t.services.webhookSender.cycle()).toBe(1);
    const [got] = await receiver.until((r) => r.length === 1);
    expect(verifiesIndependently(got!, secret)).toBe(true);
  });
});
