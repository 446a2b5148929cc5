/**
 * A key with `keys:write` mints keys only within itself (ASVS 8.2.1): the same environment,
 * an end no later than its own, addresses within its own, its project, its scopes — and
 * what it minted is revoked with it, at any depth.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { client, expectError } from "../helpers/http.js";
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
} from "../http/api-keys-fixtures.js";

const PARENT = {
  name: "deployer",
  scopes: ["keys:write", "keys:read", "services:read", "services:write"],
  environment: "test",
  expires_in: "1h",
  ip_allow: ["127.0.0.1/32"],
};

describeEachStore("key-minted keys stay within their parent", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;
  let service: string;

  beforeAll(async () => {
    server = await startTestServer({ store });
    api = client(server.url);
    const staff = await account(server);
    user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
    service = await serviceKey(server, api, staff.token);
  });
  afterAll(async () => server?.close());

  const mint = (parentKey: string, body: Record<string, unknown>) =>
    api.post(
      "/v1/api-keys",
      { name: "child", scopes: ["services:read"], ...body },
      {
        token: parentKey,
      },
    );

  it("refuses a live, unending, unrestricted child of a test, 1-hour, one-address key", async () => {
    const parent = await createKey(api, user.token, PARENT);
    const escape = await mint(parent.key, { environment: "live" });
    expect(escape.status).toBe(403);
    expect(escape.body.error.code).toBe("scope_not_grantable");
    expect(escape.body.error.details.map((d: any) => d.field)).toEqual(["environment"]);

    const longer = await mint(parent.key, { expires_in: "2h" });
    expectError(longer, 403, "scope_not_grantable");
    expect(longer.body.error.details.map((d: any) => d.field)).toEqual(["expires_in"]);
    const later = await mint(parent.key, {
      expires_at: new Date(Date.now() + 7_200_000).toISOString(),
    });
    expect(later.body.error.details.map((d: any) => d.field)).toEqual(["expires_at"]);

    const wider = await mint(parent.key, { ip_allow: ["127.0.0.1/32", "0.0.0.0/0", "::/0"] });
    expectError(wider, 403, "scope_not_grantable");
    expect(wider.body.error.details.map((d: any) => d.field)).toEqual(["ip_allow.1", "ip_allow.2"]);

    const more = await mint(parent.key, { scopes: ["billing:write"] });
    expect(more.status).toBe(403);
    expect(more.body.error.code).toBe("scope_not_grantable");

    // Nothing was created by the refused attempts.
    const listed = (await api.get("/v1/api-keys", { token: user.token })).body.api_keys;
    expect(listed.filter((k: any) => k.name === "child")).toHaveLength(0);
  });

  it("gives an unspecified child the parent's environment, end and addresses", async () => {
    const parent = await createKey(api, user.token, PARENT);
    const child = await mint(parent.key, {});
    expect(child.status, JSON.stringify(child.body)).toBe(201);
    expect(child.body).toMatchObject({
      environment: "test",
      expires_at: parent.expires_at,
      ip_allow: ["127.0.0.1/32"],
      parent_key_id: parent.id,
    });
    expect(child.body.key).toMatch(/^lk_test_/);
    // Works where the parent works, and nowhere else.
    expect((await api.get("/v1/auth/whoami", { token: child.body.key })).status).toBe(200);
    const elsewhere = await verify(api, service, { key: child.body.key, ip: "203.0.113.9" });
    expect(elsewhere.code).toBe("ip_not_allowed");
    // Narrower is fine.
    const narrower = await mint(parent.key, { expires_in: "10m", ip_allow: ["127.0.0.1"] });
    expect(narrower.status).toBe(201);
  });

  it("revokes a child and grandchild with their parent, everywhere at once", async () => {
    const parent = await createKey(api, user.token, PARENT);
    const child = (await mint(parent.key, { scopes: ["keys:write", "services:read"] })).body;
    const grandchild = (await mint(child.key, {})).body;
    expect(grandchild.parent_key_id).toBe(child.id);
    for (const key of [child.key, grandchild.key])
      expect((await verify(api, service, { key, ip: "127.0.0.1" })).valid).toBe(true);

    const revoked = await api.delete(`/v1/api-keys/${parent.id}`, { token: user.token });
    expect(revoked.status).toBe(200);
    for (const key of [parent.key, child.key, grandchild.key]) {
      const who = await api.get("/v1/auth/whoami", { token: key });
      expect(who.status).toBe(401);
      expect(who.body.error.code).toBe("key_revoked");
      expect((await verify(api, service, { key, ip: "127.0.0.1" })).code).toBe("key_revoked");
    }
    const listed = (await api.get("/v1/api-keys", { token: user.token })).body.api_keys;
    for (const id of [child.id, grandchild.id])
      expect(listed.find((k: any) => k.id === id).status).toBe("revoked");
    const audit = await api.get("/v1/audit-log?event=key_revoked", { token: user.token });
    const revokedIds = audit.body.events.map((e: any) => e.details.key_id);
    expect(revokedIds).toEqual(expect.arrayContaining([parent.id, child.id, grandchild.id]));
  });

  it("narrows what a key minted when the key itself is narrowed", async () => {
    const parent = await createKey(api, user.token, PARENT);
    const child = (await mint(parent.key, { scopes: ["services:read", "services:write"] })).body;
    const only = (await mint(parent.key, { scopes: ["services:write"] })).body;
    const narrowed = await api.patch(
      `/v1/api-keys/${parent.id}`,
      { scopes: ["keys:write", "services:read"] },
      { token: user.token },
    );
    expect(narrowed.status).toBe(200);
    const check = await verify(api, service, {
      key: child.key,
      scopes: ["services:write"],
      ip: "127.0.0.1",
    });
    expect(check.code).toBe("scope_insufficient");
    expect(check.scopes).toEqual(["services:read"]);
    // A child left with nothing of its parent's is revoked.
    expect((await verify(api, service, { key: only.key, ip: "127.0.0.1" })).code).toBe(
      "key_revoked",
    );
  });

  it("ends a child no later than its parent when the parent's overlap is shortened", async () => {
    const parent = await createKey(api, user.token, { ...PARENT, expires_in: "30d" });
    const child = (await mint(parent.key, { expires_in: "7d" })).body;
    const rotated = await api.post(
      `/v1/api-keys/${parent.id}/rotate`,
      { expire_old_in: "1h" },
      { token: user.token },
    );
    expect(rotated.status).toBe(201);
    const shown = await api.get(`/v1/api-keys/${child.id}`, { token: user.token });
    expect(Date.parse(shown.body.expires_at)).toBeLessThanOrEqual(Date.now() + 3_600_000 + 5000);
  });

  it("keeps a key rotating another key within itself", async () => {
    const live = await createKey(api, user.token, { name: "live", scopes: ["services:read"] });
    const parent = await createKey(api, user.token, PARENT);
    const rotate = await api.post(`/v1/api-keys/${live.id}/rotate`, {}, { token: parent.key });
    expect(rotate.status).toBe(403);
    expect(rotate.body.error.code).toBe("scope_not_grantable");

    const sameEnv = await createKey(api, user.token, {
      name: "t",
      scopes: ["services:read"],
      environment: "test",
    });
    const ok = await api.post(`/v1/api-keys/${sameEnv.id}/rotate`, {}, { token: parent.key });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body).toMatchObject({
      expires_at: parent.expires_at,
      ip_allow: ["127.0.0.1/32"],
      parent_key_id: parent.id,
    });
    await api.delete(`/v1/api-keys/${parent.id}`, { token: user.token });
    expect((await verify(api, service, { key: ok.body.key, ip: "127.0.0.1" })).code).toBe(
      "key_revoked",
    );
  });
});
