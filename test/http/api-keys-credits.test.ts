import { afterAll, beforeAll, expect, it } from "vitest";
import { nextRefill } from "../../src/core/credits.js";
import { client } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import {
  account,
  adminPatch,
  createKey,
  manualClock,
  serviceKey,
  verify,
  type Account,
  type Api,
} from "./api-keys-fixtures.js";

describeEachStore("API keys: usage credits with refill", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;
  let service: string;
  // Mid-day UTC, so that a test moving to the next day moves exactly one refill boundary.
  const clock = manualClock(Math.floor(Date.now() / 86_400_000) * 86_400_000 + 12 * 3_600_000);

  beforeAll(async () => {
    server = await startTestServer({
      store,
      now: clock.now,
      env: { LATCHKEY_USAGE_FLUSH_MS: "50", LATCHKEY_CREDITS_LOW_THRESHOLD: "2" },
    });
    api = client(server.url);
    const staff = await account(server);
    user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
    service = await serviceKey(server, api, staff.token);
  });
  afterAll(async () => server?.close());

  const storedBalance = async (id: string) =>
    (
      await server.db
        .selectFrom("api_keys")
        .select("credits_remaining")
        .where("id", "=", id)
        .executeTakeFirstOrThrow()
    ).credits_remaining;

  it("admits exactly 10 of 50 racing verifications against remaining: 10", async () => {
    const key = await createKey(api, user.token, { remaining: 10 });
    expect(key).toMatchObject({ remaining: 10, refill: null });
    const results = await Promise.all(
      Array.from({ length: 50 }, () => verify(api, service, { key: key.key })),
    );
    expect(results.filter((r) => r.valid)).toHaveLength(10);
    const refused = results.filter((r) => !r.valid);
    expect(refused.every((r) => r.code === "usage_exceeded" && r.remaining === 0)).toBe(true);
    expect(
      results
        .filter((r) => r.valid)
        .map((r) => r.remaining)
        .sort((a, b) => a - b),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const shown = await api.get(`/v1/api-keys/${key.id}`, { token: user.token });
    expect(shown.body.remaining).toBe(0);
    // Written back off the hot path, within a flush.
    await expect.poll(() => storedBalance(key.id), { timeout: 3000 }).toBe(0);
  });

  it("spends a call's cost, and refuses a cost over the balance without spending it", async () => {
    const key = await createKey(api, user.token, { remaining: 10 });
    expect(await verify(api, service, { key: key.key, cost: 4 })).toMatchObject({
      valid: true,
      remaining: 6,
    });
    expect(await verify(api, service, { key: key.key, cost: 7 })).toMatchObject({
      valid: false,
      code: "usage_exceeded",
      remaining: 6,
    });
    expect(await verify(api, service, { key: key.key, cost: 0 })).toMatchObject({
      valid: true,
      remaining: 6,
    });
    expect(await verify(api, service, { key: key.key, cost: 6 })).toMatchObject({
      valid: true,
      remaining: 0,
    });
    // A key without credits answers remaining: null and is never refused for them.
    const plain = await createKey(api, user.token);
    expect(await verify(api, service, { key: plain.key, cost: 1000 })).toMatchObject({
      valid: true,
      remaining: null,
      ratelimits: [],
    });
  });

  it("sets, tops up and removes the balance with PATCH, at once, audited", async () => {
    const key = await createKey(api, user.token, { remaining: 1 });
    expect((await verify(api, service, { key: key.key })).valid).toBe(true);
    expect((await verify(api, service, { key: key.key })).code).toBe("usage_exceeded");
    const set = await api.patch(`/v1/api-keys/${key.id}`, { remaining: 3 }, { token: user.token });
    expect(set.status).toBe(200);
    expect(set.body.remaining).toBe(3);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await verify(api, service, { key: key.key })).code);
    expect(codes).toEqual(["valid", "valid", "valid", "usage_exceeded"]);
    const off = await api.patch(
      `/v1/api-keys/${key.id}`,
      { remaining: null },
      { token: user.token },
    );
    expect(off.body).toMatchObject({ remaining: null, refill: null });
    expect(await verify(api, service, { key: key.key })).toMatchObject({
      valid: true,
      remaining: null,
    });
    const audit = await api.get("/v1/audit-log?event=key_edited&limit=500", { token: user.token });
    const edits = audit.body.events.filter((e: any) => e.details.key_id === key.id);
    expect(edits.map((e: any) => e.details.remaining).sort()).toEqual([3, null]);
  });

  it("records key_credits_low once, when the balance falls to the threshold", async () => {
    const key = await createKey(api, user.token, { remaining: 5 });
    for (let i = 0; i < 5; i++) await verify(api, service, { key: key.key });
    await expect
      .poll(async () => {
        const audit = await api.get("/v1/audit-log?event=key_credits_low&limit=500", {
          token: user.token,
        });
        return audit.body.events.filter((e: any) => e.details.key_id === key.id);
      })
      .toEqual([
        expect.objectContaining({ details: { key_id: key.id, remaining: 2, threshold: 2 } }),
      ]);
  });

  it("refuses bad credits and refills", async () => {
    for (const body of [
      { remaining: -1 },
      { remaining: 1.5 },
      { refill: { amount: 10, interval: "hourly" } },
      { refill: { amount: 0, interval: "daily" } },
    ]) {
      const reply = await api.post(
        "/v1/api-keys",
        { name: "k", scopes: ["services:read"], ...body },
        { token: user.token },
      );
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
    }
    const key = await createKey(api, user.token);
    const bad = await api.post("/v1/keys/verify", { key: key.key, cost: -2 }, { token: service });
    expect(bad.status).toBe(400);
  });

  // Last: it moves the clock a day on, past the user's session.
  it("refills at the UTC day boundary, exactly once", async () => {
    const key = await createKey(api, user.token, {
      remaining: 2,
      refill: { amount: 5, interval: "daily" },
    });
    expect(key).toMatchObject({ remaining: 2, refill: { amount: 5, interval: "daily" } });
    const fresh = await createKey(api, user.token, { refill: { amount: 3, interval: "monthly" } });
    expect(fresh.remaining).toBe(3);
    await verify(api, service, { key: key.key, cost: 2 });
    expect((await verify(api, service, { key: key.key })).code).toBe("usage_exceeded");
    clock.advance(nextRefill("daily", clock.now()) - clock.now() - 1);
    expect((await verify(api, service, { key: key.key })).code).toBe("usage_exceeded");
    clock.advance(1);
    const after = await Promise.all(
      Array.from({ length: 8 }, () => verify(api, service, { key: key.key })),
    );
    expect(after.filter((r) => r.valid)).toHaveLength(5);
  });
});
