import { afterAll, beforeAll, expect, it } from "vitest";
import { client, expectError } from "../helpers/http.js";
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

const HOUR = 3_600_000;

describeEachStore("API keys: expiry, rotation and audit", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;
  let service: string;
  const clock = manualClock();

  beforeAll(async () => {
    server = await startTestServer({ store, now: clock.now });
    api = client(server.url);
    const staff = await account(server);
    user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
    service = await serviceKey(server, api, staff.token);
  });
  afterAll(async () => server?.close());

  /** Sessions last an hour; a test that moves the clock signs in again. */
  async function session(): Promise<string> {
    const login = await api.post("/v1/auth/login", {
      email: user.email,
      password: "a-long-and-unusual-passphrase",
    });
    expect(login.status).toBe(200);
    return login.body.access_token;
  }

  async function events(token: string, event: string): Promise<any[]> {
    const reply = await api.get(`/v1/audit-log?event=${event}`, { token });
    expect(reply.status).toBe(200);
    return reply.body.events;
  }

  it("expires keys by expires_in (30d, 90d, 24h, 1y) and by expires_at", async () => {
    const token = await session();
    const start = clock.now();
    for (const [text, ms] of [
      ["24h", 24 * HOUR],
      ["30d", 30 * 24 * HOUR],
      ["90d", 90 * 24 * HOUR],
      ["1y", 365 * 24 * HOUR],
    ] as const) {
      const key = await createKey(api, token, { expires_in: text });
      expect(Date.parse(key.expires_at)).toBe(start + ms);
    }
    const at = new Date(start + 2 * HOUR).toISOString();
    const fixed = await createKey(api, token, { expires_at: at });
    expect(fixed.expires_at).toBe(at);
    const past = await api.post(
      "/v1/api-keys",
      { name: "x", scopes: ["services:read"], expires_at: new Date(start - 1000).toISOString() },
      { token },
    );
    expectError(past, 400, "invalid_request");
    expect(past.body.error.details[0].field).toBe("expires_at");
    const both = await api.post(
      "/v1/api-keys",
      { name: "x", scopes: ["services:read"], expires_in: "1d", expires_at: at },
      { token },
    );
    expectError(both, 400, "invalid_request");

    expect((await api.get("/v1/auth/whoami", { token: fixed.key })).status).toBe(200);
    clock.advance(2 * HOUR);
    const expired = await api.get("/v1/auth/whoami", { token: fixed.key });
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe("key_expired");
    const fresh = await session();
    expect((await verify(api, service, { key: fixed.key })).code).toBe("key_expired");
    const listed = (await api.get("/v1/api-keys", { token: fresh })).body.api_keys;
    expect(listed.find((k: any) => k.id === fixed.id).status).toBe("expired");
  });

  it("rotates with overlap: both keys work until the old one is revoked", async () => {
    const token = await session();
    const project = await api.post("/v1/projects", { name: "web" }, { token });
    const old = await createKey(api, token, {
      name: "deploy",
      scopes: ["services:read", "services:write"],
      environment: "test",
      project_id: project.body.id,
    });
    const rotated = await api.post(`/v1/api-keys/${old.id}/rotate`, {}, { token });
    expect(rotated.status).toBe(201);
    expect(rotated.body.key).toMatch(/^lk_test_/);
    expect(rotated.body.key).not.toBe(old.key);
    expect(rotated.body).toMatchObject({
      name: "deploy",
      scopes: ["services:read", "services:write"],
      environment: "test",
      project_id: project.body.id,
      rotated_from: old.id,
      status: "active",
    });
    expect(rotated.body.id).not.toBe(old.id);
    clock.advance(10 * 60_000);
    for (const key of [old.key, rotated.body.key])
      expect((await verify(api, service, { key, project_id: project.body.id })).valid).toBe(true);
    await api.delete(`/v1/api-keys/${old.id}`, { token });
    expect((await verify(api, service, { key: old.key })).code).toBe("key_revoked");
    expect((await verify(api, service, { key: rotated.body.key })).valid).toBe(true);
  });

  it("ends the old key's overlap after expire_old_in", async () => {
    const token = await session();
    const old = await createKey(api, token, { name: "cron" });
    const rotated = await api.post(
      `/v1/api-keys/${old.id}/rotate`,
      { expire_old_in: "24h" },
      { token },
    );
    expect(rotated.status).toBe(201);
    const details = await api.get(`/v1/api-keys/${old.id}`, { token });
    expect(Date.parse(details.body.expires_at)).toBe(clock.now() + 24 * HOUR);
    expect((await api.get("/v1/auth/whoami", { token: old.key })).status).toBe(200);
    clock.advance(24 * HOUR - 1000);
    expect((await api.get("/v1/auth/whoami", { token: old.key })).status).toBe(200);
    clock.advance(1000);
    const gone = await api.get("/v1/auth/whoami", { token: old.key });
    expect(gone.status).toBe(401);
    expect(gone.body.error.code).toBe("key_expired");
    expect((await api.get("/v1/auth/whoami", { token: rotated.body.key })).status).toBe(200);
    const bad = await api.post(
      `/v1/api-keys/${rotated.body.id}/rotate`,
      { expire_old_in: "soon" },
      { token: await session() },
    );
    expectError(bad, 400, "invalid_request");
    expect(bad.body.error.details[0].field).toBe("expire_old_in");
  });

  it("writes audit events for create, edit, rotate and revoke, never with the secret", async () => {
    const token = await session();
    const key = await createKey(api, token, { name: "audited", scopes: ["services:*"] });
    await api.patch(`/v1/api-keys/${key.id}`, { scopes: ["services:read"] }, { token });
    const rotated = await api.post(`/v1/api-keys/${key.id}/rotate`, {}, { token });
    await api.delete(`/v1/api-keys/${key.id}`, { token });
    const byKey = (list: any[]) => list.filter((e) => e.details.key_id === key.id);
    expect(byKey(await events(token, "key_created"))).toHaveLength(1);
    const [edited] = byKey(await events(token, "key_edited"));
    expect(edited.details.scopes).toEqual(["services:read"]);
    expect(edited.actor).toMatch(/^session:/);
    const [rotation] = byKey(await events(token, "key_rotated"));
    expect(rotation.details.new_key_id).toBe(rotated.body.id);
    expect(byKey(await events(token, "key_revoked"))).toHaveLength(1);
    const all = await api.get("/v1/audit-log", { token });
    expect(JSON.stringify(all.body)).not.toContain(key.key.slice(12));
    expect(JSON.stringify(all.body)).not.toContain(rotated.body.key.slice(12));
  });

  it("audits refused uses of revoked and expired keys, at most once a minute per key", async () => {
    const token = await session();
    const revoked = await createKey(api, token, { name: "leaked" });
    await api.delete(`/v1/api-keys/${revoked.id}`, { token });
    for (let i = 0; i < 5; i++)
      expectError(await api.get("/v1/auth/whoami", { token: revoked.key }), 401, "key_revoked");
    for (let i = 0; i < 3; i++) await verify(api, service, { key: revoked.key });
    const refusals = async () =>
      (await events(token, "key_refused")).filter((e) => e.details.key_id === revoked.id);
    const first = await refusals();
    expect(first).toHaveLength(1);
    expect(first[0].details.reason).toBe("key_revoked");
    expect(first[0].user_id).toBe(user.userId);
    clock.advance(61_000);
    await api.get("/v1/auth/whoami", { token: revoked.key });
    expect(await refusals()).toHaveLength(2);

    const expiring = await createKey(api, token, { name: "short", expires_in: "1m" });
    clock.advance(60_000);
    expectError(await api.get("/v1/auth/whoami", { token: expiring.key }), 401, "key_expired");
    const expired = (await events(token, "key_refused")).filter(
      (e) => e.details.key_id === expiring.id,
    );
    expect(expired).toHaveLength(1);
    expect(expired[0].details.reason).toBe("key_expired");
  });
});
