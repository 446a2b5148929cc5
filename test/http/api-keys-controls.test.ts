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

  it("shortens a key's expiry, never lengthens it, and verification sees the new end at once", async () => {
    const key = await createKey(api, user.token, { expires_in: "30d" });
    expect((await verify(api, service, { key: key.key })).expires_at).toBe(key.expires_at);
    const shorter = await api.patch(
      `/v1/api-keys/${key.id}`,
      { expires_in: "1d" },
      { token: user.token },
    );
    expect(shorter.status).toBe(200);
    expect(Date.parse(shorter.body.expires_at)).toBeLessThan(Date.parse(key.expires_at));
    expect((await verify(api, service, { key: key.key })).expires_at).toBe(shorter.body.expires_at);

    for (const body of [{ expires_in: "90d" }, { expires_at: "2020-01-01T00:00:00Z" }]) {
      const refused = await api.patch(`/v1/api-keys/${key.id}`, body, { token: user.token });
      expect(refused.status).toBe(400);
      expect(refused.body.error.details[0].field).toMatch(/^expires_(in|at)$/);
    }
    // A key that never expired may be given an end.
    const open = await createKey(api, user.token);
    const ends = await api.patch(
      `/v1/api-keys/${open.id}`,
      { expires_in: "7d" },
      { token: user.token },
    );
    expect(ends.status).toBe(200);
    expect(ends.body.expires_at).toEqual(expect.any(String));
    const audit = await api.get("/v1/audit-log?event=key_edited&limit=500", { token: user.token });
    const edit = audit.body.events.find((e: any) => e.details.key_id === open.id);
    expect(edit.details.expires_at).toBe(ends.body.expires_at);
  });

  it("replaces the IP allowlist, and verification applies the new one at once", async () => {
    const key = await createKey(api, user.token);
    expect((await verify(api, service, { key: key.key, ip: "198.51.100.7" })).valid).toBe(true);
    const narrowed = await api.patch(
      `/v1/api-keys/${key.id}`,
      { ip_allow: ["203.0.113.0/24"] },
      { token: user.token },
    );
    expect(narrowed.status).toBe(200);
    expect(narrowed.body.ip_allow).toEqual(["203.0.113.0/24"]);
    expect((await verify(api, service, { key: key.key, ip: "198.51.100.7" })).code).toBe(
      "ip_not_allowed",
    );
    expect((await verify(api, service, { key: key.key, ip: "203.0.113.9" })).valid).toBe(true);
    const bad = await api.patch(
      `/v1/api-keys/${key.id}`,
      { ip_allow: ["nope"] },
      { token: user.token },
    );
    expect(bad.status).toBe(400);
    const cleared = await api.patch(
      `/v1/api-keys/${key.id}`,
      { ip_allow: null },
      { token: user.token },
    );
    expect(cleared.body.ip_allow).toBeNull();
    expect((await verify(api, service, { key: key.key, ip: "198.51.100.7" })).valid).toBe(true);
  });

  it("keeps a key-minted key inside its parent's limits, and a parent above its children", async () => {
    const parent = await createKey(api, user.token, {
      name: "minter",
      scopes: ["keys:write", "keys:read", "services:read"],
      // The test calls from loopback: the parent must be usable from there to mint.
      ip_allow: ["127.0.0.0/8", "203.0.113.0/24"],
      expires_in: "30d",
    });
    const child = await createKey(api, parent.key, { name: "child", scopes: ["services:read"] });
    expect(child.ip_allow).toEqual(["127.0.0.0/8", "203.0.113.0/24"]);
    // The child may not leave the parent's addresses, nor drop its list.
    for (const ip_allow of [["198.51.100.0/24"], null]) {
      const wider = await api.patch(
        `/v1/api-keys/${child.id}`,
        { ip_allow },
        { token: user.token },
      );
      if (ip_allow === null) expect(wider.body.ip_allow).toEqual(["127.0.0.0/8", "203.0.113.0/24"]);
      else expect(wider.status).toBe(403);
    }
    const inside = await api.patch(
      `/v1/api-keys/${child.id}`,
      { ip_allow: ["203.0.113.8/29"] },
      { token: user.token },
    );
    expect(inside.body.ip_allow).toEqual(["203.0.113.8/29"]);
    // The parent may not move its list away from where its child is used.
    const away = await api.patch(
      `/v1/api-keys/${parent.id}`,
      { ip_allow: ["198.51.100.0/24"] },
      { token: user.token },
    );
    expect(away.status).toBe(409);
    expect(away.body.error.message).toContain(child.id);
    // Shortening the parent's life ends its child no later.
    const short = await api.patch(
      `/v1/api-keys/${parent.id}`,
      { expires_in: "1d" },
      { token: user.token },
    );
    expect(short.status).toBe(200);
    const shown = await api.get(`/v1/api-keys/${child.id}`, { token: user.token });
    expect(Date.parse(shown.body.expires_at)).toBeLessThanOrEqual(
      Date.parse(short.body.expires_at),
    );
  });
});
