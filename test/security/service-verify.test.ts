/**
 * `keys:verify` is a service privilege (ASVS 8.4.1): no tenant can probe another tenant's
 * keys through `POST /v1/keys/verify` or follow their revocations; staff and the service
 * accounts staff designate can, and every verification names who asked.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { routeSecurity } from "../helpers/route-security.js";
import { client, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { openStream } from "../helpers/sse.js";
import { within } from "../sdk/support.js";
import {
  account,
  adminPatch,
  createKey,
  verify,
  type Account,
  type Api,
} from "../http/api-keys-fixtures.js";

describeEachStore("keys:verify is a service privilege", (store) => {
  let server: TestServer;
  let api: Api;
  let staff: Account;
  let alice: Account;
  let mallory: Account;

  beforeAll(async () => {
    server = await startTestServer({ store, env: { LATCHKEY_DEFAULT_PLAN: "enterprise" } });
    api = client(server.url);
    staff = await account(server);
    alice = await account(server);
    mallory = await account(server);
  });
  afterAll(async () => server?.close());

  it("refuses an ordinary user's verify of another tenant's key, and writes nothing", async () => {
    const victim = await createKey(api, alice.token, { scopes: ["services:read"] });
    const bySession = await api.post(
      "/v1/keys/verify",
      { key: victim.key },
      {
        token: mallory.token,
      },
    );
    expect(bySession.status).toBe(403);
    expect(bySession.body.error).toMatchObject({
      code: "scope_insufficient",
      required: ["keys:verify"],
    });
    const minted = await api.post(
      "/v1/api-keys",
      { name: "probe", scopes: ["keys:verify"] },
      { token: mallory.token },
    );
    expect(minted.status).toBe(403);
    expect(minted.body.error.code).toBe("scope_not_grantable");
    // `*` means everything the owner may do, which no longer includes verifying.
    const everything = await createKey(api, mallory.token, { name: "all", scopes: ["*"] });
    const byKey = await api.post(
      "/v1/keys/verify",
      { key: victim.key, endpoint: "GET /forged", ip: "198.51.100.1" },
      { token: everything.key },
    );
    expectError(byKey, 403, "scope_insufficient");
    const who = await api.get("/v1/auth/whoami", { token: mallory.token });
    expect(who.body.scopes).not.toContain("keys:verify");
    expect(who.body.service).toBe(false);

    await server.services.keyVerifier.usage.flush();
    const activity = await api.get(`/v1/api-keys/${victim.id}/activity`, { token: alice.token });
    expect(activity.body.activity).toEqual([]);
  });

  it("lets a staff-designated service account verify, recording verified_by", async () => {
    const svc = await account(server);
    const early = await api.post(
      "/v1/api-keys",
      { name: "verifier", scopes: ["keys:verify"] },
      { token: svc.token },
    );
    expectError(early, 403, "scope_not_grantable");
    // Only staff designate services.
    const self = await api.patch(
      `/v1/admin/users/${svc.userId}`,
      { service: true },
      {
        token: svc.token,
      },
    );
    expectError(self, 403, "scope_insufficient");
    await adminPatch(api, staff.token, svc.userId, { service: true });
    const verifier = await createKey(api, svc.token, { name: "verifier", scopes: ["keys:verify"] });
    expect((await api.get("/v1/auth/whoami", { token: verifier.key })).body).toMatchObject({
      service: true,
      scopes: ["keys:verify"],
    });

    const victim = await createKey(api, alice.token, { scopes: ["services:read"] });
    const check = await verify(api, verifier.key, { key: victim.key, endpoint: "GET /x" });
    expect(check).toMatchObject({ valid: true, owner_id: alice.userId });
    const byStaff = await verify(api, staff.token, { key: victim.key, endpoint: "GET /y" });
    expect(byStaff.valid).toBe(true);
    await server.services.keyVerifier.usage.flush();
    const activity = await api.get(`/v1/api-keys/${victim.id}/activity`, { token: alice.token });
    const rows = activity.body.activity;
    expect(rows.find((r: any) => r.endpoint === "GET /x").verified_by).toBe(verifier.id);
    expect(rows.find((r: any) => r.endpoint === "GET /y").verified_by).toBe(staff.userId);

    // Withdrawn at once: the service's key loses keys:verify.
    await adminPatch(api, staff.token, svc.userId, { service: false });
    const after = await api.post("/v1/keys/verify", { key: victim.key }, { token: verifier.key });
    expectError(after, 403, "scope_insufficient");
  });

  it("streams revocations to services only; a tenant's stream receives nothing", async () => {
    const svc = await account(server);
    await adminPatch(api, staff.token, svc.userId, { service: true });
    const verifier = await createKey(api, svc.token, { name: "verifier", scopes: ["keys:verify"] });
    const snoop = await createKey(api, mallory.token, { name: "snoop", scopes: ["*"] });

    const tenantBySession = await openStream(server.url, mallory.token);
    const tenantByKey = await openStream(server.url, snoop.key);
    expectError(tenantBySession, 403, "scope_insufficient");
    expectError(tenantByKey, 403, "scope_insufficient");
    const service = await openStream(server.url, verifier.key);
    expect(service.status).toBe(200);
    try {
      await within(2000, async () => service.state.text.includes("event: ready"));
      const victim = await createKey(api, alice.token, { scopes: ["services:read"] });
      await api.delete(`/v1/api-keys/${victim.id}`, { token: alice.token });
      await within(2000, async () => service.state.text.includes(victim.id));
      expect(tenantBySession.state.text).toBe("");
      expect(tenantByKey.state.text).toBe("");
    } finally {
      for (const s of [tenantBySession, tenantByKey, service]) s.close();
    }
  });

  // The common checks for every route of the group (test/helpers/route-security.ts).
  routeSecurity("revocations", () => server);
});
