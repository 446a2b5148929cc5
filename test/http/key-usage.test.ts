/**
 * `POST /v1/keys/usage` (verifiers report cached hits) and `lease` on `POST /v1/keys/verify`,
 * over real HTTP on each store.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { expectSpecError } from "../security/support.js";
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

describeEachStore("POST /v1/keys/usage and rate-limit leases", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;
  let service: string;
  let serviceId: string;

  beforeAll(async () => {
    server = await startTestServer({ store, env: { LATCHKEY_RATE_LIMIT_LIVE: "200" } });
    api = client(server.url);
    const staff = await account(server);
    user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
    service = await serviceKey(server, api, staff.token);
    serviceId = (await api.get("/v1/auth/whoami", { token: service })).body.key_id;
  });
  afterAll(async () => server?.close());

  const report = (uses: unknown, token = service) =>
    api.post("/v1/keys/usage", { uses }, { token });
  const details = async (id: string) => {
    await server.services.keyVerifier.usage.flush();
    return (await api.get(`/v1/api-keys/${id}`, { token: user.token })).body;
  };

  it("counts reported hits in the key's usage and activity like verifications", async () => {
    const key = await createKey(api, user.token);
    await verify(api, service, { key: key.key, endpoint: "GET /x" });
    const last = new Date(Date.now() - 1_000).toISOString();
    const reply = await report([
      { key_id: key.id, count: 250, endpoint: "GET /x", ip: "203.0.113.9", last_at: last },
      { key_id: key.id, count: 7, endpoint: "POST /y", outcome: "scope_insufficient" },
    ]);
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body).toEqual({ accepted: 2, ignored: 0 });
    const body = await details(key.id);
    expect(body.usage_count).toBe(258);
    expect(body.usage.by_endpoint).toEqual([
      { endpoint: "GET /x", count: 251 },
      { endpoint: "POST /y", count: 7 },
    ]);
    const activity = (await api.get(`/v1/api-keys/${key.id}/activity`, { token: user.token })).body
      .activity;
    expect(activity).toHaveLength(3);
    expect(activity.reduce((sum: number, a: any) => sum + a.count, 0)).toBe(258);
    expect(activity).toContainEqual(
      expect.objectContaining({
        endpoint: "GET /x",
        ip: "203.0.113.9",
        outcome: "valid",
        count: 250,
        verified_by: serviceId,
        at: last,
      }),
    );
  });

  it("ignores unknown and revoked keys: answered with how many were accepted, never an error", async () => {
    const live = await createKey(api, user.token);
    const revoked = await createKey(api, user.token);
    expect((await api.delete(`/v1/api-keys/${revoked.id}`, { token: user.token })).status).toBe(
      200,
    );
    const reply = await report([
      { key_id: "key_doesnotexist", count: 3 },
      { key_id: revoked.id, count: 3 },
      { key_id: live.id, count: 3 },
    ]);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ accepted: 1, ignored: 2 });
    expect((await details(revoked.id)).usage_count).toBe(0);
    expect((await details(live.id)).usage_count).toBe(3);
  });

  it("refuses malformed reports with 400 invalid_request naming the field", async () => {
    const key = await createKey(api, user.token);
    const bad: [unknown, string][] = [
      [[], "uses"],
      [Array.from({ length: 501 }, () => ({ key_id: key.id, count: 1 })), "uses"],
      [[{ key_id: key.id, count: 0 }], "uses.0.count"],
      [[{ key_id: key.id, count: 1.5 }], "uses.0.count"],
      [[{ key_id: key.id, count: 1_000_001 }], "uses.0.count"],
      [[{ key_id: key.id, count: 1, ip: "not-an-ip" }], "uses.0.ip"],
      [[{ key_id: key.id, count: 1, surprise: true }], "uses.0"],
      [[{ key_id: key.id, count: 1, outcome: "rate_limited" }], "uses.0.outcome"],
      [[{ key_id: key.id, count: 1, last_at: "yesterday" }], "uses.0.last_at"],
    ];
    for (const [uses, field] of bad) {
      const reply = await report(uses);
      expectSpecError(reply.status, reply.body, field);
      expect({ status: reply.status, code: reply.body.error.code }, field).toEqual({
        status: 400,
        code: "invalid_request",
      });
      expect(JSON.stringify(reply.body.error.details), field).toContain(field.split(".").pop());
    }
    expect((await details(key.id)).usage_count).toBe(0);
  });

  it("needs keys:verify: an owner's session and an owner's broad key are 403", async () => {
    const key = await createKey(api, user.token, { scopes: ["*"] });
    const uses = [{ key_id: key.id, count: 1 }];
    for (const token of [user.token, key.key]) {
      const reply = await report(uses, token);
      expect(reply.status).toBe(403);
      expect(reply.body.error).toMatchObject({
        code: "scope_insufficient",
        required: ["keys:verify"],
      });
    }
    expect((await report(uses, "")).status).toBe(401);
  });

  it("leases uses of the key's limit with a verification, never past the limit", async () => {
    const key = await createKey(api, user.token);
    const first = await verify(api, service, { key: key.key, lease: 100 });
    // A tenth of the 199 left after the call itself.
    expect(first.lease).toEqual({
      granted: 19,
      reset: expect.any(Number),
      reset_in: expect.any(Number),
    });
    expect(first.lease.reset_in).toBeGreaterThan(50_000);
    expect(first.lease.reset_in).toBeLessThanOrEqual(60_000);
    const plain = await verify(api, service, { key: key.key });
    expect(plain.lease).toBeUndefined();
    expect(plain.ratelimit.remaining).toBe(200 - 1 - 19 - 1);
    // Leased uses are spent: reporting them lets more be leased, and the total stays under 200.
    let admitted = 2 + first.lease.granted;
    await report([{ key_id: key.id, count: first.lease.granted }]);
    for (let i = 0; i < 300; i++) {
      const answer = await verify(api, service, { key: key.key, lease: 100 });
      if (!answer.valid) {
        expect(answer).toMatchObject({ code: "rate_limited", lease: { granted: 0 } });
        continue;
      }
      admitted += 1 + answer.lease.granted;
      if (answer.lease.granted > 0) await report([{ key_id: key.id, count: answer.lease.granted }]);
    }
    expect(admitted).toBe(200);
  });

  it("bounds lease requests", async () => {
    const key = await createKey(api, user.token);
    for (const lease of [0, -1, 1.5, 1001, "10"]) {
      const reply = await api.post("/v1/keys/verify", { key: key.key, lease }, { token: service });
      expect(reply.status, String(lease)).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
    }
  });

  it("documents the report and the lease in the OpenAPI document", async () => {
    const doc = (await api.get("/openapi.json")).body;
    const usage = doc.paths["/v1/keys/usage"].post;
    const body = usage.requestBody.content["application/json"].schema;
    expect(body.properties.uses.maxItems).toBe(500);
    expect(Object.keys(body.properties.uses.items.properties).sort()).toEqual(
      ["count", "endpoint", "first_at", "ip", "key_id", "last_at", "outcome", "project_id"].sort(),
    );
    expect(Object.keys(usage.responses[200].content["application/json"].schema.properties)).toEqual(
      ["accepted", "ignored"],
    );
    const verifyOp = doc.paths["/v1/keys/verify"].post;
    const verifyBody = verifyOp.requestBody.content["application/json"].schema;
    expect(verifyBody.properties.lease).toMatchObject({ minimum: 1, maximum: 1000 });
    const answer = verifyOp.responses[200].content["application/json"].schema;
    expect(Object.keys(answer.properties.lease.properties)).toEqual([
      "granted",
      "reset",
      "reset_in",
    ]);
  });

  routeSecurity("key-usage", () => server);
});
