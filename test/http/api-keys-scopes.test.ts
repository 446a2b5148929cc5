import { afterAll, beforeAll, expect, it } from "vitest";
import { routeSecurity } from "../helpers/route-security.js";
import { client, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import {
  account,
  adminPatch,
  createKey,
  verify,
  type Account,
  type Api,
} from "./api-keys-fixtures.js";

describeEachStore("API keys: scopes, narrowing and the owner's access", (store) => {
  let server: TestServer;
  let api: Api;
  let staff: Account;
  let verifier: string;

  beforeAll(async () => {
    server = await startTestServer({ store });
    api = client(server.url);
    staff = await account(server);
    await adminPatch(api, staff.token, staff.userId, { plan: "enterprise" });
    verifier = (await createKey(api, staff.token, { name: "svc", scopes: ["keys:verify"] })).key;
  });
  afterAll(async () => server?.close());

  async function freshUser(patch: Record<string, unknown> = {}): Promise<Account> {
    const user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise", ...patch });
    return user;
  }

  it("refuses unknown scopes with 400 naming each, and accepts resource:* and *", async () => {
    const user = await freshUser();
    const reply = await api.post(
      "/v1/api-keys",
      { name: "x", scopes: ["services:read", "rockets:launch", "services:fly"] },
      { token: user.token },
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("invalid_request");
    expect(reply.body.error.details.map((d: any) => d.field)).toEqual(["scopes.1", "scopes.2"]);
    const wild = await createKey(api, user.token, { scopes: ["services:*"] });
    const check = await verify(api, verifier, { key: wild.key });
    expect(check.scopes).toEqual(["services:exec", "services:read", "services:write"]);
    const all = await createKey(api, user.token, { scopes: ["*"] });
    expect((await verify(api, verifier, { key: all.key })).scopes).toContain("billing:write");
  });

  it("refuses scopes beyond the owner's role with 403 scope_not_grantable", async () => {
    const member = await freshUser({ role: "member" });
    const reply = await api.post(
      "/v1/api-keys",
      { name: "x", scopes: ["services:read", "billing:write"] },
      { token: member.token },
    );
    expect(reply.status).toBe(403);
    expect(reply.body.error.code).toBe("scope_not_grantable");
    expect(reply.body.error.details).toEqual([
      { field: "scopes.1", message: "not grantable: billing:write" },
    ]);
    const viewer = await freshUser({ role: "viewer" });
    const write = await api.post(
      "/v1/api-keys",
      { name: "x", scopes: ["services:write"] },
      { token: viewer.token },
    );
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe("scope_not_grantable");
    expect((await createKey(api, viewer.token, { scopes: ["logs:read"] })).status).toBe("active");
  });

  it("grants admin:* to staff only", async () => {
    const user = await freshUser();
    const refused = await api.post(
      "/v1/api-keys",
      { name: "ops", scopes: ["admin:*"] },
      { token: user.token },
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("scope_not_grantable");
    // `*` from a non-staff owner never reaches admin:*.
    const all = await createKey(api, user.token, { scopes: ["*"] });
    expect((await verify(api, verifier, { key: all.key })).scopes).not.toContain("admin:*");
    const ops = await createKey(api, staff.token, { name: "ops", scopes: ["admin:*"] });
    const list = await api.get("/v1/admin/users", { token: ops.key });
    expect(list.status).toBe(200);
  });

  it("narrows scopes with PATCH, effective at once, and refuses to widen them", async () => {
    const user = await freshUser();
    const key = await createKey(api, user.token, { scopes: ["services:*", "logs:read"] });
    expect((await verify(api, verifier, { key: key.key, scopes: ["services:write"] })).valid).toBe(
      true,
    );
    const narrowed = await api.patch(
      `/v1/api-keys/${key.id}`,
      { scopes: ["services:read"] },
      { token: user.token },
    );
    expect(narrowed.status).toBe(200);
    expect(narrowed.body.scopes).toEqual(["services:read"]);
    const after = await verify(api, verifier, { key: key.key, scopes: ["services:write"] });
    expect(after).toMatchObject({ valid: false, code: "scope_insufficient" });
    expect(after.scopes).toEqual(["services:read"]);
    expect((await api.get("/v1/auth/whoami", { token: key.key })).body.scopes).toEqual([
      "services:read",
    ]);
    for (const scopes of [
      ["services:*"],
      ["services:read", "logs:read"],
      ["*"],
      ["billing:read"],
    ]) {
      const widen = await api.patch(`/v1/api-keys/${key.id}`, { scopes }, { token: user.token });
      expect(widen.status, JSON.stringify(scopes)).toBe(403);
      expect(widen.body.error.code).toBe("scope_expansion_not_allowed");
    }
    const renamed = await api.patch(
      `/v1/api-keys/${key.id}`,
      { name: "renamed" },
      { token: user.token },
    );
    expect(renamed.body).toMatchObject({ name: "renamed", scopes: ["services:read"] });
  });

  it("does not let environment or project be edited", async () => {
    const user = await freshUser();
    const key = await createKey(api, user.token);
    for (const body of [
      { environment: "test" },
      { project_id: "prj_x" },
      { expires_at: null },
      {},
    ]) {
      const reply = await api.patch(`/v1/api-keys/${key.id}`, body, { token: user.token });
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
    }
    const details = await api.get(`/v1/api-keys/${key.id}`, { token: user.token });
    expect(details.body.environment).toBe("live");
  });

  it("shrinks a key at once when staff lower its owner's role", async () => {
    const user = await freshUser();
    const key = await createKey(api, user.token, { scopes: ["*"] });
    const before = await api.get("/v1/auth/whoami", { token: key.key });
    expect(before.body.scopes).toContain("billing:write");
    expect(before.body.scopes).toContain("services:write");
    expect((await verify(api, verifier, { key: key.key, scopes: ["billing:write"] })).valid).toBe(
      true,
    );

    await adminPatch(api, staff.token, user.userId, { role: "member" });
    const member = await api.get("/v1/auth/whoami", { token: key.key });
    expect(member.body.scopes).not.toContain("billing:write");
    expect(member.body.scopes).toContain("services:write");
    const refused = await verify(api, verifier, { key: key.key, scopes: ["billing:write"] });
    expect(refused).toMatchObject({ valid: false, code: "scope_insufficient" });

    await adminPatch(api, staff.token, user.userId, { role: "viewer" });
    const viewer = await api.get("/v1/auth/whoami", { token: key.key });
    expect(viewer.body.scopes).not.toContain("services:write");
    expect(viewer.body.scopes).toContain("services:read");
    expect((await verify(api, verifier, { key: key.key, scopes: ["services:write"] })).code).toBe(
      "scope_insufficient",
    );

    // Disabling the owner stops every key of theirs.
    await adminPatch(api, staff.token, user.userId, { disabled: true });
    expectError(await api.get("/v1/auth/whoami", { token: key.key }), 401, "key_invalid");
    expect((await verify(api, verifier, { key: key.key })).code).toBe("key_invalid");
  });

  // The common checks for every route of the group (test/helpers/route-security.ts).
  routeSecurity("admin", () => server);
});
