import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatKey } from "../../src/core/key-format.js";
import { routeSecurity } from "../helpers/route-security.js";
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

describeEachStore("POST /v1/keys/verify, projects and IP restriction", (store) => {
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

  it("answers 200 with owner, environment, effective scopes, expiry and rate-limit state", async () => {
    const key = await createKey(api, user.token, {
      scopes: ["services:read", "logs:read"],
      environment: "test",
      expires_in: "30d",
    });
    const result = await verify(api, service, { key: key.key, scopes: ["logs:read"] });
    expect(result).toEqual({
      valid: true,
      code: "valid",
      key_id: key.id,
      owner_id: user.userId,
      org_id: null,
      environment: "test",
      scopes: ["logs:read", "services:read"],
      project_id: null,
      expires_at: key.expires_at,
      ratelimit: { limit: 10000, remaining: 9999, reset: expect.any(Number) },
      meta: null,
      remaining: null,
      ratelimits: [],
    });
  });

  it("answers key_invalid for noise, bad checksums, other brands and unknown keys", async () => {
    const real = await createKey(api, user.token);
    const unknown = formatKey("lk", "live", randomBytes(32));
    const otherBrand = formatKey("bdk", "live", randomBytes(32));
    const badChecksum = real.key.slice(0, -1) + (real.key.endsWith("0") ? "1" : "0");
    for (const key of ["hello", unknown, otherBrand, badChecksum]) {
      const result = await verify(api, service, { key });
      expect(result).toEqual({
        valid: false,
        code: "key_invalid",
        key_id: null,
        owner_id: null,
        org_id: null,
        environment: null,
        scopes: [],
        project_id: null,
        expires_at: null,
        ratelimit: null,
        meta: null,
        remaining: null,
        ratelimits: [],
      });
    }
  });

  it("needs a credential with keys:verify and a strict body", async () => {
    const key = await createKey(api, user.token);
    const none = await api.post("/v1/keys/verify", { key: key.key });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("unauthenticated");
    const weak = await api.post("/v1/keys/verify", { key: key.key }, { token: key.key });
    expect(weak.status).toBe(403);
    expect(weak.body.error).toMatchObject({
      code: "scope_insufficient",
      required: ["keys:verify"],
    });
    for (const body of [{}, { key: key.key, admin: true }, { key: key.key, ip: "not-an-ip" }]) {
      const bad = await api.post("/v1/keys/verify", body, { token: service });
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.body.error.code).toBe("invalid_request");
    }
  });

  it("binds a key to its project: another project is project_mismatch", async () => {
    const web = await api.post("/v1/projects", { name: "web" }, { token: user.token });
    const api2 = await api.post("/v1/projects", { name: "api" }, { token: user.token });
    expect(web.status).toBe(201);
    expect(web.body).toMatchObject({ id: expect.stringMatching(/^prj_/), name: "web" });
    const projects = await api.get("/v1/projects", { token: user.token });
    expect(projects.body.projects.map((p: any) => p.id).sort()).toEqual(
      [web.body.id, api2.body.id].sort(),
    );

    const key = await createKey(api, user.token, {
      scopes: ["services:read", "projects:read"],
      project_id: web.body.id,
    });
    expect(key.project_id).toBe(web.body.id);
    const same = await verify(api, service, { key: key.key, project_id: web.body.id });
    expect(same).toMatchObject({ valid: true, project_id: web.body.id });
    const other = await verify(api, service, { key: key.key, project_id: api2.body.id });
    expect(other).toMatchObject({ valid: false, code: "project_mismatch", key_id: key.id });
    // Without a project in the call, the answer names the key's project for the service.
    expect(await verify(api, service, { key: key.key })).toMatchObject({
      valid: true,
      project_id: web.body.id,
    });
    // The key sees only its own project.
    const seen = await api.get("/v1/projects", { token: key.key });
    expect(seen.body.projects.map((p: any) => p.id)).toEqual([web.body.id]);
  });

  it("refuses keys for someone else's project or a missing one", async () => {
    const stranger = await account(server);
    const theirs = await api.post("/v1/projects", { name: "theirs" }, { token: stranger.token });
    for (const projectId of [theirs.body.id, "prj_missing"]) {
      const reply = await api.post(
        "/v1/api-keys",
        { name: "x", scopes: ["services:read"], project_id: projectId },
        { token: user.token },
      );
      expect(reply.status).toBe(404);
      expect(reply.body.error.code).toBe("not_found");
    }
    const mine = await api.get("/v1/projects", { token: user.token });
    expect(mine.body.projects.map((p: any) => p.id)).not.toContain(theirs.body.id);
  });

  it("restricts a key to its ip_allow ranges, IPv4 and IPv6", async () => {
    const key = await createKey(api, user.token, {
      ip_allow: ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"],
    });
    expect(key).toMatchObject({ ip_allow: ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"] });
    const at = async (ip?: string) =>
      (await verify(api, service, ip ? { key: key.key, ip } : { key: key.key })).code;
    expect(await at("10.20.30.40")).toBe("valid");
    expect(await at("192.168.1.7")).toBe("valid");
    expect(await at("2001:db8:1::9")).toBe("valid");
    expect(await at("::ffff:10.1.1.1")).toBe("valid");
    expect(await at("11.0.0.1")).toBe("ip_not_allowed");
    expect(await at("192.168.1.8")).toBe("ip_not_allowed");
    expect(await at("2001:db9::1")).toBe("ip_not_allowed");
    expect(await at()).toBe("ip_not_allowed");
    // As a bearer, the request's own address is checked (tests call from 127.0.0.1).
    const denied = await api.get("/v1/auth/whoami", { token: key.key });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("ip_not_allowed");
    const local = await createKey(api, user.token, { ip_allow: ["127.0.0.0/8", "::1/128"] });
    expect((await api.get("/v1/auth/whoami", { token: local.key })).status).toBe(200);
  });

  it("answers key_revoked and key_expired with the key's identity", async () => {
    const key = await createKey(api, user.token);
    await api.delete(`/v1/api-keys/${key.id}`, { token: user.token });
    expect(await verify(api, service, { key: key.key })).toMatchObject({
      valid: false,
      code: "key_revoked",
      key_id: key.id,
      owner_id: user.userId,
      org_id: null,
      scopes: [],
    });
  });

  // The common checks for every route of the group (test/helpers/route-security.ts).
  routeSecurity("verify", () => server);
  routeSecurity("projects", () => server);
});

describe("API keys under a configured brand", () => {
  let server: TestServer;
  let api: Api;

  beforeAll(async () => {
    server = await startTestServer({ env: { LATCHKEY_KEY_PREFIX: "bdk" } });
    api = client(server.url);
  });
  afterAll(async () => server?.close());

  it("issues bdk_live_ and bdk_test_ keys and refuses other brands", async () => {
    const user = await account(server);
    const live = await createKey(api, user.token, { scopes: ["keys:verify"] });
    const test = await createKey(api, user.token, { environment: "test" });
    expect(live.key).toMatch(/^bdk_live_[0-9A-Za-z]{49}$/);
    expect(test.key).toMatch(/^bdk_test_[0-9A-Za-z]{49}$/);
    expect(live.prefix).toBe(live.key.slice(0, 12));
    expect((await verify(api, live.key, { key: test.key })).environment).toBe("test");
    const lk = formatKey("lk", "live", randomBytes(32));
    expect((await verify(api, live.key, { key: lk })).code).toBe("key_invalid");
  });
});
