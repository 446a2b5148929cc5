import { afterAll, beforeAll, expect, it } from "vitest";
import { client } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import {
  account,
  adminPatch,
  createKey,
  serviceKey,
  verify,
  type Account,
  type Api,
} from "./api-keys-fixtures.js";

describeEachStore("API key controls: description, metadata, disabling", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;
  let service: string;

  beforeAll(async () => {
    server = await startTestServer({ store, env: { LATCHKEY_USAGE_FLUSH_MS: "50" } });
    api = client(server.url);
    const staff = await account(server);
    user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
    service = await serviceKey(server, api, staff.token);
  });
  afterAll(async () => server?.close());

  const META = { customer: "cus_123", tier: "pro", limits: { seats: 5 }, tags: ["eu", "beta"] };

  it("stores them at creation, lists and shows them, and verification returns the meta", async () => {
    const key = await createKey(api, user.token, { description: "  CI deploys  ", meta: META });
    expect(key).toMatchObject({ description: "CI deploys", meta: META });
    const shown = await api.get(`/v1/api-keys/${key.id}`, { token: user.token });
    expect(shown.body).toMatchObject({ description: "CI deploys", meta: META });
    const listed = await api.get("/v1/api-keys", { token: user.token });
    expect(listed.body.api_keys.find((k: { id: string }) => k.id === key.id)).toMatchObject({
      meta: META,
    });
    const result = await verify(api, service, { key: key.key });
    expect(result).toMatchObject({ valid: true, meta: META });

    const plain = await createKey(api, user.token);
    expect(plain).toMatchObject({ description: null, meta: null });
    expect(await verify(api, service, { key: plain.key })).toMatchObject({ meta: null });
  });

  it("changes and clears them with PATCH, and verification sees the change at once", async () => {
    const key = await createKey(api, user.token, { meta: { tier: "free" } });
    expect((await verify(api, service, { key: key.key })).meta).toEqual({ tier: "free" }); // cached

    const changed = await api.patch(
      `/v1/api-keys/${key.id}`,
      { meta: { tier: "pro" }, description: "upgraded" },
      { token: user.token },
    );
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ meta: { tier: "pro" }, description: "upgraded" });
    expect((await verify(api, service, { key: key.key })).meta).toEqual({ tier: "pro" });

    const cleared = await api.patch(
      `/v1/api-keys/${key.id}`,
      { meta: null, description: "" },
      { token: user.token },
    );
    expect(cleared.body).toMatchObject({ meta: null, description: null });
    expect((await verify(api, service, { key: key.key })).meta).toBeNull();

    // The audit log says the meta changed, never what it holds (the owner's data).
    const audit = await api.get("/v1/audit-log?event=key_edited", { token: user.token });
    const edits = audit.body.events.filter((e: any) => e.details.key_id === key.id);
    expect(edits.length).toBe(2);
    expect(edits.every((e: any) => e.details.meta_changed === true)).toBe(true);
    expect(JSON.stringify(edits)).not.toContain("pro");
  });

  it("keeps them on rotation", async () => {
    const key = await createKey(api, user.token, { description: "rotating", meta: META });
    const rotated = await api.post(`/v1/api-keys/${key.id}/rotate`, {}, { token: user.token });
    expect(rotated.status).toBe(201);
    expect(rotated.body).toMatchObject({ description: "rotating", meta: META });
    expect((await verify(api, service, { key: rotated.body.key })).meta).toEqual(META);
  });

  it("refuses meta over 4 KiB, meta that is not an object, and a long description", async () => {
    const big = { blob: "x".repeat(4100) };
    for (const body of [
      { name: "k", scopes: ["services:read"], meta: big },
      { name: "k", scopes: ["services:read"], meta: ["a", "b"] },
      { name: "k", scopes: ["services:read"], meta: "text" },
      { name: "k", scopes: ["services:read"], description: "d".repeat(501) },
    ]) {
      const reply = await api.post("/v1/api-keys", body, { token: user.token });
      expect(reply.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
    }
    const key = await createKey(api, user.token);
    const patch = await api.patch(`/v1/api-keys/${key.id}`, { meta: big }, { token: user.token });
    expect(patch.status).toBe(400);
    expect(patch.body.error.details[0].field).toBe("meta");
    // Exactly 4 KiB of JSON is accepted.
    const exact = { b: "y".repeat(4096 - '{"b":""}'.length) };
    const fits = await api.patch(`/v1/api-keys/${key.id}`, { meta: exact }, { token: user.token });
    expect(fits.status).toBe(200);
  });

  it("disables a key without revoking it: key_disabled everywhere until enabled, audited", async () => {
    const key = await createKey(api, user.token, { scopes: ["services:read"] });
    expect((await verify(api, service, { key: key.key })).valid).toBe(true); // cached
    expect((await api.get("/v1/auth/whoami", { token: key.key })).status).toBe(200);

    const off = await api.patch(
      `/v1/api-keys/${key.id}`,
      { enabled: false },
      { token: user.token },
    );
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ enabled: false, status: "active", revoked_at: null });
    expect(off.body.disabled_at).toEqual(expect.any(String));
    expect(await verify(api, service, { key: key.key })).toMatchObject({
      valid: false,
      code: "key_disabled",
      key_id: key.id,
    });
    const bearer = await api.get("/v1/auth/whoami", { token: key.key });
    expect(bearer.status).toBe(401);
    expect(bearer.body.error.code).toBe("key_disabled");
    // Still listed, still counted against the plan, and it cannot be rotated while paused.
    const listed = await api.get("/v1/api-keys", { token: user.token });
    expect(listed.body.api_keys.find((k: any) => k.id === key.id)).toMatchObject({
      enabled: false,
    });
    const rotate = await api.post(`/v1/api-keys/${key.id}/rotate`, {}, { token: user.token });
    expect(rotate.status).toBe(409);
    // Disabling twice changes nothing more.
    const again = await api.patch(
      `/v1/api-keys/${key.id}`,
      { enabled: false },
      { token: user.token },
    );
    expect(again.body.disabled_at).toBe(off.body.disabled_at);

    const on = await api.patch(`/v1/api-keys/${key.id}`, { enabled: true }, { token: user.token });
    expect(on.body).toMatchObject({ enabled: true, disabled_at: null });
    expect((await verify(api, service, { key: key.key })).valid).toBe(true);
    expect((await api.get("/v1/auth/whoami", { token: key.key })).status).toBe(200);

    const audit = await api.get("/v1/audit-log?limit=500", { token: user.token });
    const mine = audit.body.events
      .filter((e: any) => e.details.key_id === key.id)
      .map((e: any) => e.event);
    expect(mine.filter((e: string) => e === "key_disabled")).toHaveLength(1);
    expect(mine.filter((e: string) => e === "key_enabled")).toHaveLength(1);
    expect(mine).not.toContain("key_edited");
  });

  it("refuses a revoked key as revoked, not disabled, and a disabled key's use is counted", async () => {
    const key = await createKey(api, user.token);
    await api.patch(`/v1/api-keys/${key.id}`, { enabled: false }, { token: user.token });
    await verify(api, service, { key: key.key });
    await api.delete(`/v1/api-keys/${key.id}`, { token: user.token });
    expect((await verify(api, service, { key: key.key })).code).toBe("key_revoked");
    // Usage is flushed every 50 ms here: wait for the refused call's activity row.
    let outcomes: string[] = [];
    for (let i = 0; i < 40 && !outcomes.includes("key_disabled"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const activity = await api.get(`/v1/api-keys/${key.id}/activity`, { token: user.token });
      outcomes = activity.body.activity.map((a: any) => a.outcome as string);
    }
    expect(outcomes).toContain("key_disabled");
  });
});
