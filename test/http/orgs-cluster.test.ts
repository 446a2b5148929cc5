/**
 * Organizations across two instances (one PostgreSQL, one Redis): a change made on one is
 * held by the other from the moment it answered, with the other's caches warm — a removed
 * member's personal key loses the organization there, a demotion narrows the keys the member
 * minted, a policy refuses an org key, and a removed creator's org key keeps working.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { newSigningJwk } from "../../src/infra/secrets.js";
import { client, expectError } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { describeCluster } from "../helpers/stores.js";
import {
  account,
  adminPatch,
  createKey,
  serviceKey,
  verify,
  type Account,
  type Api,
} from "./api-keys-fixtures.js";

describeCluster("organizations across two instances (PostgreSQL + Redis)", () => {
  let a: TestServer;
  let b: TestServer;
  let apiA: Api;
  let apiB: Api;
  let staff: Account;
  let verifier: string;

  beforeAll(async () => {
    const redis = freshRedisPrefix();
    // One master key and one signing key, as instances behind one load balancer share them.
    const env = {
      LATCHKEY_MASTER_KEY: randomBytes(32).toString("hex"),
      LATCHKEY_SIGNING_KEY: JSON.stringify(await newSigningJwk()),
    };
    a = await startTestServer({ store: "postgres", redis, env });
    b = await startTestServer({ redis, env, databaseUrl: a.config.database });
    apiA = client(a.url);
    apiB = client(b.url);
    staff = await account(a);
    verifier = await serviceKey(a, apiA, staff.token);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  async function orgWithMember(role: string) {
    const owner = await account(a);
    const created = await apiA.post("/v1/orgs", { name: "Acme" }, { token: owner.token });
    expect(created.status).toBe(201);
    const org = created.body.id as string;
    await adminPatch(apiA, staff.token, org, { plan: "team" });
    const member = await account(a);
    const invite = await apiA.post(
      `/v1/orgs/${org}/invitations`,
      { email: member.email, role },
      { token: owner.token },
    );
    const accepted = await apiB.post(
      "/v1/invitations/accept",
      { token: invite.body.token },
      { token: member.token },
    );
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    return { owner, member, org };
  }

  async function orgKey(api: Api, org: string, who: Account, scopes: string[]) {
    const reply = await api.post(
      `/v1/orgs/${org}/api-keys`,
      { name: "ci", scopes, expires_in: "7d" },
      { token: who.token },
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return reply.body as { id: string; key: string };
  }

  it("a removed member's personal key loses the organization on the other instance at once", async () => {
    const { owner, member, org } = await orgWithMember("member");
    const personal = await createKey(apiA, member.token, { scopes: ["keys:read"] });
    // Warm on B: the key, its owner and the member's organizations are cached there.
    for (let i = 0; i < 3; i++)
      expect((await apiB.get(`/v1/orgs/${org}/api-keys`, { token: personal.key })).status).toBe(
        200,
      );
    const removed = await apiA.delete(`/v1/orgs/${org}/members/${member.userId}`, {
      token: owner.token,
    });
    expect(removed.status).toBe(204);
    expectError(
      await apiB.get(`/v1/orgs/${org}/api-keys`, { token: personal.key }),
      404,
      "not_found",
    );
    expectError(
      await apiB.get(`/v1/orgs/${org}/api-keys`, { token: member.token }),
      404,
      "not_found",
    );
    const whoami = await apiB.get("/v1/auth/whoami", { token: member.token });
    expect(whoami.body.orgs).toEqual([]);
  });

  it("a demotion on one instance narrows the member's org keys on the other at once", async () => {
    const { owner, member, org } = await orgWithMember("admin");
    const key = await orgKey(apiA, org, member, ["services:read", "billing:write"]);
    for (let i = 0; i < 3; i++)
      expect(
        (await verify(apiB, verifier, { key: key.key, scopes: ["billing:write"] })).valid,
      ).toBe(true);
    const demoted = await apiA.patch(
      `/v1/orgs/${org}/members/${member.userId}`,
      { role: "viewer" },
      { token: owner.token },
    );
    expect(demoted.status).toBe(200);
    const answer = await verify(apiB, verifier, { key: key.key, scopes: ["billing:write"] });
    expect(answer.code).toBe("scope_insufficient");
    expect(answer.scopes).toEqual(["services:read"]);
    // Removed altogether: the key is the organization's and has its access again, on B too.
    await apiA.delete(`/v1/orgs/${org}/members/${member.userId}`, { token: owner.token });
    const after = await verify(apiB, verifier, { key: key.key, scopes: ["billing:write"] });
    expect(after).toMatchObject({ valid: true, org_id: org });
  });

  it("a policy set on one instance refuses org keys on the other at once", async () => {
    const { owner, org } = await orgWithMember("member");
    const key = await orgKey(apiB, org, owner, ["services:read"]);
    for (let i = 0; i < 3; i++)
      expect((await verify(apiB, verifier, { key: key.key })).valid).toBe(true);
    const set = await apiA.patch(
      `/v1/orgs/${org}/policy`,
      { allowed_environments: ["test"] },
      { token: owner.token },
    );
    expect(set.status).toBe(200);
    expect((await verify(apiB, verifier, { key: key.key })).code).toBe("policy_violation");
  });
});
