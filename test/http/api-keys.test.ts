import { afterAll, beforeAll, expect, it } from "vitest";
import { routeSecurity } from "../helpers/route-security.js";
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
} from "./api-keys-fixtures.js";

const LISTED = [
  "id",
  "description",
  "meta",
  "enabled",
  "disabled_at",
  "leaked_at",
  "leak_source",
  "org_id",
  "created_by",
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
  "remaining",
  "refill",
  "ratelimits",
];

describeEachStore("API keys: create, list, use, revoke", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;
  let other: Account;
  let service: string;

  beforeAll(async () => {
    server = await startTestServer({ store });
    api = client(server.url);
    const staff = await account(server); // the first account is staff
    user = await account(server);
    other = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
    service = await serviceKey(server, api, staff.token);
  });
  afterAll(async () => server?.close());

  it("creates a key shown once, lists it without the secret, and uses it as a bearer", async () => {
    const created = await createKey(api, user.token, {
      name: "deploy",
      scopes: ["services:read", "keys:read"],
    });
    expect(created.key).toMatch(/^lk_live_[0-9A-Za-z]{49}$/);
    expect(created).toMatchObject({
      name: "deploy",
      prefix: created.key.slice(0, 12),
      environment: "live",
      scopes: ["services:read", "keys:read"],
      project_id: null,
      expires_at: null,
      last_used_at: null,
      usage_count: 0,
      revoked_at: null,
      status: "active",
      description: null,
      meta: null,
      enabled: true,
      disabled_at: null,
    });
    const list = await api.get("/v1/api-keys", { token: user.token });
    expect(list.status).toBe(200);
    const listed = list.body.api_keys.find((k: any) => k.id === created.id);
    expect(Object.keys(listed).sort()).toEqual([...LISTED].sort());
    expect(JSON.stringify(list.body)).not.toContain(created.key.slice(12));

    const who = await api.get("/v1/auth/whoami", { token: created.key });
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({
      credential_type: "api_key",
      key_id: created.id,
      user_id: user.userId,
      environment: "live",
      scopes: ["keys:read", "services:read"],
    });
    // A key with keys:read reads the key list itself.
    expect((await api.get("/v1/api-keys", { token: created.key })).status).toBe(200);
  });

  it("revokes at once: the next request with the key is 401 key_revoked", async () => {
    const created = await createKey(api, user.token, { scopes: ["services:read"] });
    // Warm every cache first, so revocation has to invalidate it.
    for (let i = 0; i < 3; i++)
      expect((await api.get("/v1/auth/whoami", { token: created.key })).status).toBe(200);
    const del = await api.delete(`/v1/api-keys/${created.id}`, { token: user.token });
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id: created.id, status: "revoked" });
    expect(del.body.revoked_at).not.toBeNull();
    expect(del.body).not.toHaveProperty("key");
    const after = await api.get("/v1/auth/whoami", { token: created.key });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("key_revoked");
    expect(after.headers.get("www-authenticate")).toContain("invalid_token");
    const listed = (await api.get("/v1/api-keys", { token: user.token })).body.api_keys;
    expect(listed.find((k: any) => k.id === created.id).status).toBe("revoked");
    // Revoking again is harmless.
    expect((await api.delete(`/v1/api-keys/${created.id}`, { token: user.token })).status).toBe(
      200,
    );
  });

  it("revokes at once under concurrent use: nothing succeeds after DELETE answers", async () => {
    const created = await createKey(api, user.token, { scopes: ["services:read"] });
    let revokedAnswered = false;
    let lateSuccesses = 0;
    const hammer = async () => {
      for (let i = 0; i < 40; i++) {
        const sentAfterRevoke = revokedAnswered;
        const reply = await api.get("/v1/auth/whoami", { token: created.key });
        if (sentAfterRevoke && reply.status === 200) lateSuccesses += 1;
      }
    };
    const load = Promise.all([hammer(), hammer()]);
    const del = await api.delete(`/v1/api-keys/${created.id}`, { token: user.token });
    revokedAnswered = true;
    expect(del.status).toBe(200);
    const check = await verify(api, service, { key: created.key });
    expect(check.code).toBe("key_revoked");
    await load;
    // Requests already in flight when DELETE answered may finish; new ones may not.
    const again = await api.get("/v1/auth/whoami", { token: created.key });
    expectError(again, 401, "key_revoked");
    expect(lateSuccesses).toBe(0);
  });

  it("answers 401 key_invalid for garbage and for well-formed unknown keys", async () => {
    const created = await createKey(api, user.token);
    const tampered =
      created.key.slice(0, 20) + (created.key[20] === "a" ? "b" : "a") + created.key.slice(21);
    for (const token of [
      "lk_live_garbage",
      tampered,
      created.key.replace("lk_live_", "lk_test_"),
    ]) {
      const reply = await api.get("/v1/auth/whoami", { token });
      expect(reply.status).toBe(401);
      expect(reply.body.error.code).toBe("key_invalid");
      expect(JSON.stringify(reply.body)).not.toContain(token);
    }
  });

  it("shows another user's key to nobody but its owner (404 on every route)", async () => {
    const mine = await createKey(api, user.token, { scopes: ["services:read"] });
    const paths = [
      ["get", `/v1/api-keys/${mine.id}`],
      ["get", `/v1/api-keys/${mine.id}/activity`],
      ["patch", `/v1/api-keys/${mine.id}`, { name: "stolen" }],
      ["delete", `/v1/api-keys/${mine.id}`],
      ["post", `/v1/api-keys/${mine.id}/rotate`, {}],
    ] as const;
    for (const [method, path, body] of paths) {
      const reply =
        method === "get" || method === "delete"
          ? await api[method](path, { token: other.token })
          : await api[method](path, body, { token: other.token });
      expect(reply.status, `${method} ${path}`).toBe(404);
      expect(reply.body.error.code).toBe("not_found");
    }
    const theirs = await api.get("/v1/api-keys", { token: other.token });
    expect(theirs.body.api_keys.map((k: any) => k.id)).not.toContain(mine.id);
    // Still alive and unchanged.
    expect((await api.get("/v1/auth/whoami", { token: mine.key })).status).toBe(200);
    const details = await api.get(`/v1/api-keys/${mine.id}`, { token: user.token });
    expect(details.body.name).toBe("ci");
  });

  it("needs keys:read to read keys and keys:write to manage them", async () => {
    const plain = await createKey(api, user.token, { scopes: ["services:read"] });
    const reader = await createKey(api, user.token, { scopes: ["keys:read"] });
    const writer = await createKey(api, user.token, { scopes: ["keys:write", "services:read"] });
    const denied = await api.get("/v1/api-keys", { token: plain.key });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({
      code: "scope_insufficient",
      required: ["keys:read"],
    });
    expect((await api.get(`/v1/api-keys/${plain.id}`, { token: reader.key })).status).toBe(200);
    const noWrite = await api.post(
      "/v1/api-keys",
      { name: "x", scopes: ["services:read"] },
      { token: reader.key },
    );
    expect(noWrite.status).toBe(403);
    expect(noWrite.body.error).toMatchObject({
      code: "scope_insufficient",
      required: ["keys:write"],
    });
    expectError(
      await api.delete(`/v1/api-keys/${plain.id}`, { token: reader.key }),
      403,
      "scope_insufficient",
    );
    // A writer key mints keys within its own scopes, never beyond them.
    const minted = await api.post(
      "/v1/api-keys",
      { name: "child", scopes: ["services:read"] },
      { token: writer.key },
    );
    expect(minted.status).toBe(201);
    const beyond = await api.post(
      "/v1/api-keys",
      { name: "child", scopes: ["billing:write"] },
      { token: writer.key },
    );
    expect(beyond.status).toBe(403);
    expect(beyond.body.error.code).toBe("scope_not_grantable");
    const everything = await api.post(
      "/v1/api-keys",
      { name: "child", scopes: ["*"] },
      { token: writer.key },
    );
    expect(everything.status).toBe(403);
    expect(everything.body.error.code).toBe("scope_not_grantable");
    // ...and cannot rotate a broader key to learn a secret with more than it has.
    const broad = await createKey(api, user.token, { scopes: ["billing:read"] });
    const rotate = await api.post(`/v1/api-keys/${broad.id}/rotate`, {}, { token: writer.key });
    expect(rotate.status).toBe(403);
    expect(rotate.body.error.code).toBe("scope_not_grantable");
  });

  it("validates the create body strictly, naming the fields", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: "x", scopes: ["services:read"], colour: "red" }, "colour"],
      [{ name: "", scopes: ["services:read"] }, "name"],
      [{ name: "x", scopes: [] }, "scopes"],
      [{ name: "x", scopes: ["services:read"], environment: "prod" }, "environment"],
      [{ name: "x", scopes: ["services:read"], expires_in: "soon" }, "expires_in"],
      [{ name: "x", scopes: ["services:read"], expires_at: "yesterday" }, "expires_at"],
      [
        { name: "x", scopes: ["services:read"], ip_allow: ["10.0.0.0/8", "300.1.1.1"] },
        "ip_allow.1",
      ],
      [{ name: "x", scopes: ["services:read", "services:fly"] }, "scopes.1"],
    ];
    for (const [body, field] of cases) {
      const reply = await api.post("/v1/api-keys", body, { token: user.token });
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
      const details = reply.body.error.details;
      expect(details.map((d: any) => d.field)).toContain(field);
    }
  });

  it("never returns the secret after creation: not in details, activity, audit log or errors", async () => {
    const created = await createKey(api, user.token, { scopes: ["services:read", "keys:read"] });
    await api.get("/v1/auth/whoami", { token: created.key });
    await api.get("/v1/api-keys", { token: created.key });
    await server.services.keyVerifier.usage.flush();
    const secretPart = created.key.slice(12);
    const replies = await Promise.all([
      api.get(`/v1/api-keys/${created.id}`, { token: user.token }),
      api.get(`/v1/api-keys/${created.id}/activity`, { token: user.token }),
      api.get("/v1/api-keys", { token: user.token }),
      api.get("/v1/audit-log", { token: user.token }),
      api.patch(`/v1/api-keys/${created.id}`, { name: "renamed" }, { token: user.token }),
      api.post("/v1/api-keys", { name: created.key, scopes: ["nope:nope"] }, { token: user.token }),
      api.post("/v1/keys/verify", { key: created.key, extra: 1 }, { token: user.token }),
      api.delete(`/v1/api-keys/${created.id}`, { token: user.token }),
      api.get("/v1/auth/whoami", { token: created.key }),
    ]);
    for (const reply of replies) {
      expect(reply.status).toBeLessThan(500);
      expect(JSON.stringify(reply.body)).not.toContain(secretPart);
    }
    const rows = await server.db.selectFrom("api_keys").selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(secretPart);
    const audit = await server.db.selectFrom("audit_log").selectAll().execute();
    expect(JSON.stringify(audit)).not.toContain(secretPart);
  });

  // The common checks for every route of the group (test/helpers/route-security.ts).
  routeSecurity("api-keys", () => server);
});
