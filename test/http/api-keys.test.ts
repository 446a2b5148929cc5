import { afterAll, beforeAll, expect, it } from "vitest";
import { client } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { account, createKey, type Account, type Api } from "./api-keys-fixtures.js";

describeEachStore("API keys: create, list, use, revoke", (store) => {
  let server: TestServer;
  let api: Api;
  let staff: Account;
  let user: Account;

  beforeAll(async () => {
    server = await startTestServer({ store });
    api = client(server.url);
    staff = await account(server);
    user = await account(server);
  });
  afterAll(async () => server?.close());

  it("creates a key shown once, lists it without the secret, and uses it as a bearer", async () => {
    const created = await createKey(api, user.token, {
      name: "deploy",
      scopes: ["services:read", "keys:read"],
    });
    expect(created.key).toMatch(/^lk_live_[0-9A-Za-z]{49}$/);
    expect(created.prefix).toBe(created.key.slice(0, 12));
    expect(created.status).toBe("active");
    const list = await api.get("/v1/api-keys", { token: user.token });
    expect(list.status).toBe(200);
    expect(list.body.api_keys).toHaveLength(1);
    expect(Object.keys(list.body.api_keys[0]).sort()).toEqual(
      [
        "id",
        "name",
        "prefix",
        "environment",
        "scopes",
        "project_id",
        "created_at",
        "expires_at",
        "last_used_at",
        "usage_count",
        "revoked_at",
        "status",
      ].sort(),
    );
    expect(JSON.stringify(list.body)).not.toContain(created.key);
    const who = await api.get("/v1/auth/whoami", { token: created.key });
    expect(who.status).toBe(200);
    expect(who.body.credential_type).toBe("api_key");
    expect(who.body.key_id).toBe(created.id);
    expect(who.body.scopes).toEqual(["keys:read", "services:read"]);
    const del = await api.delete(`/v1/api-keys/${created.id}`, { token: user.token });
    expect(del.status).toBe(200);
    expect(del.body.status).toBe("revoked");
    const after = await api.get("/v1/auth/whoami", { token: created.key });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("key_revoked");
    void staff;
  });

  it("verifies a key for a platform service with keys:verify", async () => {
    const service = await createKey(api, user.token, { name: "svc", scopes: ["keys:verify"] });
    const key = await createKey(api, user.token, { scopes: ["services:read"] });
    const ok = await api.post(
      "/v1/keys/verify",
      { key: key.key, scopes: ["services:read"] },
      { token: service.key },
    );
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      valid: true,
      code: "valid",
      key_id: key.id,
      owner_id: user.userId,
      environment: "live",
      scopes: ["services:read"],
    });
    const no = await api.post(
      "/v1/keys/verify",
      { key: key.key, scopes: ["services:write"] },
      { token: service.key },
    );
    expect(no.body).toMatchObject({ valid: false, code: "scope_insufficient" });
    const junk = await api.post("/v1/keys/verify", { key: "lk_live_nope" }, { token: service.key });
    expect(junk.body).toMatchObject({ valid: false, code: "key_invalid", key_id: null });
  });
});
