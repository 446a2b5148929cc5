/**
 * `POST /v1/keys/leaks` over real HTTP on each store (SPEC §11): anyone may report; a real,
 * active key is revoked at once and its owner told (audit `key_leaked`); an anonymous answer
 * is the same for real, unknown and already revoked keys; only `keys:report` sees outcomes.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { formatKey } from "../../src/core/key-format.js";
import { client, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { routeSecurity } from "../helpers/route-security.js";
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

const LIMIT = 6;
let nextAddress = 1;
/** A client address of its own (the server trusts one proxy hop), so limits don't mix. */
const from = () => ({ "x-forwarded-for": `198.51.100.${nextAddress++}` });

/** A key of the right brand and a valid checksum that no server issued. */
const unknownKey = () => formatKey("lk", "live", randomBytes(32));

function wrongChecksum(key: string): string {
  return key.slice(0, -1) + (key.endsWith("0") ? "1" : "0");
}

describeEachStore("leak reports", (store) => {
  let server: TestServer;
  let api: Api;
  let staff: Account;
  let owner: Account;
  let verifier: string;

  beforeAll(async () => {
    server = await startTestServer({
      store,
      env: { LATCHKEY_TRUST_PROXY: "1", LATCHKEY_LEAK_REPORTS_PER_MINUTE: String(LIMIT) },
    });
    api = client(server.url);
    staff = await account(server); // the first account is staff
    owner = await account(server);
    await adminPatch(api, staff.token, owner.userId, { plan: "enterprise" });
    verifier = await serviceKey(server, api, staff.token);
  });
  afterAll(async () => {
    await server?.close();
  });

  routeSecurity("leaks", () => server);

  const report = (
    keys: unknown[],
    options: { token?: string; headers?: Record<string, string> } = {},
  ) =>
    api.post(
      "/v1/keys/leaks",
      { keys },
      { headers: { ...from(), ...options.headers }, ...options },
    );

  it("answers an anonymous reporter the same for a real, an unknown and a revoked key", async () => {
    const real = await createKey(api, owner.token, { name: "leaky" });
    const revoked = await createKey(api, owner.token, { name: "old" });
    expect((await api.delete(`/v1/api-keys/${revoked.id}`, { token: owner.token })).status).toBe(
      200,
    );
    const candidates = [real.key, unknownKey(), revoked.key, wrongChecksum(unknownKey())];
    const answers = [];
    for (const key of candidates) {
      const started = performance.now();
      const reply = await report([{ key, url: "https://paste.example/abc" }]);
      answers.push({ reply, ms: performance.now() - started });
    }
    for (const { reply } of answers) {
      expect(reply.status).toBe(202);
      expect(reply.body).toEqual({ received: 1 });
      expect(reply.headers.get("content-type")).toBe(answers[0]!.reply.headers.get("content-type"));
      expect(reply.headers.get("content-length")).toBe(
        answers[0]!.reply.headers.get("content-length"),
      );
    }
    // About the same time: each answer waits out a floor that revoking does not exceed.
    const times = answers.map((a) => a.ms);
    for (const ms of times) expect(ms).toBeGreaterThanOrEqual(200);
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(300);

    // The real key stopped working, as a credential and when a service verifies it.
    expectError(await api.get("/v1/auth/whoami", { token: real.key }), 401, "key_revoked");
    expect(await verify(api, verifier, { key: real.key })).toMatchObject({
      valid: false,
      code: "key_revoked",
    });
  });

  it("tells the owner in the audit log: key_leaked with the URL, source and reporter", async () => {
    const real = await createKey(api, owner.token, { name: "told" });
    const address = from();
    await report([{ key: real.key, url: "https://gist.example/x", source: "a kind stranger" }], {
      headers: address,
    });
    const log = await api.get("/v1/audit-log?event=key_leaked", { token: owner.token });
    const entry = log.body.events.find((e: any) => e.details.key_id === real.id);
    expect(entry).toMatchObject({
      event: "key_leaked",
      user_id: owner.userId,
      actor: null,
      ip: address["x-forwarded-for"],
      details: {
        key_id: real.id,
        name: "told",
        prefix: real.key.slice(0, 12),
        url: "https://gist.example/x",
        source: "a kind stranger",
        outcome: "revoked",
      },
    });
    const revokedEntry = (
      await api.get("/v1/audit-log?event=key_revoked", { token: owner.token })
    ).body.events.find((e: any) => e.details.key_id === real.id);
    expect(revokedEntry.details.reason).toBe("leaked");
    // Nothing stored or answered holds the key itself.
    expect(JSON.stringify(log.body)).not.toContain(real.key);
  });

  it("revokes the keys a leaked key minted, with it", async () => {
    const parent = await createKey(api, owner.token, {
      name: "minter",
      scopes: ["keys:write", "services:read"],
    });
    const child = await createKey(api, parent.key, { name: "child" });
    await report([{ key: parent.key }]);
    expectError(await api.get("/v1/auth/whoami", { token: child.key }), 401, "key_revoked");
  });

  it("gives a keys:report caller each key's outcome by prefix, never the key", async () => {
    const real = await createKey(api, owner.token, { name: "for-staff" });
    const gone = await createKey(api, owner.token, { name: "gone" });
    await api.delete(`/v1/api-keys/${gone.id}`, { token: owner.token });
    const unknown = unknownKey();
    const bad = wrongChecksum(unknownKey());
    const other = formatKey("bdk", "live", randomBytes(32));
    const keys = [real.key, gone.key, unknown, bad, other, real.key].map((key) => ({ key }));
    const reply = await report(keys, { token: staff.token });
    expect(reply.status).toBe(202);
    expect(reply.body).toEqual({
      received: 6,
      results: [
        { index: 0, prefix: real.key.slice(0, 12), outcome: "revoked" },
        { index: 1, prefix: gone.key.slice(0, 12), outcome: "already_revoked" },
        { index: 2, prefix: unknown.slice(0, 12), outcome: "unknown" },
        { index: 3, prefix: bad.slice(0, 12), outcome: "invalid_checksum" },
        { index: 4, prefix: other.slice(0, 12), outcome: "unknown" },
        { index: 5, prefix: real.key.slice(0, 12), outcome: "revoked" },
      ],
    });
    const text = JSON.stringify(reply.body);
    for (const { key } of keys) expect(text).not.toContain(key);
    // Staff reporting again: the key is already revoked.
    const again = await report([{ key: real.key }], { token: staff.token });
    expect(again.body.results[0].outcome).toBe("already_revoked");
  });

  it("gives outcomes to a service account's keys:report key, not to a tenant", async () => {
    const service = await account(server);
    await adminPatch(api, staff.token, service.userId, { service: true });
    const scanner = await createKey(api, service.token, {
      name: "scanner",
      scopes: ["keys:report"],
    });
    const real = await createKey(api, owner.token, { name: "seen-by-scanner" });
    const seen = await report([{ key: real.key }], { token: scanner.key });
    expect(seen.body).toEqual({
      received: 1,
      results: [{ index: 0, prefix: real.key.slice(0, 12), outcome: "revoked" }],
    });
    // A tenant may report (and the key is revoked) but learns nothing more than anyone.
    const mine = await createKey(api, owner.token, { name: "tenant-reports" });
    const tenant = await report([{ key: mine.key }], { token: owner.token });
    expect(tenant).toMatchObject({ status: 202, body: { received: 1 } });
    expect(tenant.body.results).toBeUndefined();
    expectError(await api.get("/v1/auth/whoami", { token: mine.key }), 401, "key_revoked");
    // A tenant cannot give a key keys:report.
    expectError(
      await api.post(
        "/v1/api-keys",
        { name: "x", scopes: ["keys:report"] },
        { token: owner.token },
      ),
      403,
      "scope_not_grantable",
    );
  });

  it("limits anonymous reports per address: 429 rate_limited with retry_after", async () => {
    const address = from();
    const replies = await Promise.all(
      Array.from({ length: LIMIT + 2 }, () =>
        report([{ key: unknownKey() }], { headers: address }),
      ),
    );
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(LIMIT);
    const limited = replies.filter((r) => r.status === 429);
    expect(limited).toHaveLength(2);
    for (const reply of limited) {
      expectError(reply, 429, "rate_limited");
      expect(reply.body.error.retry_after).toBeGreaterThanOrEqual(1);
      expect(reply.body.error.request_id).toEqual(expect.any(String));
      expect(Number(reply.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    // Another address has a budget of its own; keys:report callers are not held to it.
    expect((await report([{ key: unknownKey() }])).status).toBe(202);
    expect(
      (await report([{ key: unknownKey() }], { token: staff.token, headers: address })).status,
    ).toBe(202);
  });

  it("answers bad input with the spec's invalid_request, never a 500", async () => {
    const key = unknownKey();
    const bodies: unknown[] = [
      {},
      { keys: [] },
      { keys: "lk_live_x" },
      { keys: [{}] },
      { keys: [{ key: 42 }] },
      { keys: [{ key: "" }] },
      { keys: [{ key: "x".repeat(129) }] },
      { keys: [{ key, url: "javascript:alert(1)" }] },
      { keys: [{ key, url: `https://example.com/${"a".repeat(2100)}` }] },
      { keys: [{ key, source: "s".repeat(201) }] },
      { keys: [{ key, extra: true }] },
      { keys: [{ key }], more: 1 },
      { keys: Array.from({ length: 101 }, () => ({ key })) },
    ];
    for (const body of bodies) {
      const reply = await api.post("/v1/keys/leaks", body, { headers: from() });
      expectError(reply, 400, "invalid_request", JSON.stringify(body).slice(0, 80));
      expect(JSON.stringify(reply.body)).not.toContain(key);
    }
    const notJson = await api.post("/v1/keys/leaks", undefined, {
      raw: "{not json",
      headers: from(),
    });
    expectError(notJson, 400, "invalid_request");
  });

  it("refuses a credential that is presented but not valid", async () => {
    expectError(await report([{ key: unknownKey() }], { token: unknownKey() }), 401, "key_invalid");
    expectError(
      await report([{ key: unknownKey() }], { headers: { authorization: "Basic abc" } }),
      401,
      "unauthenticated",
    );
  });
});
