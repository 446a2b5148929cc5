/**
 * Organizations (issue 16, SPEC §10) over real HTTP, on each store: creation and listing,
 * invitations (single use, for one address; 20 racing accepts admit one), roles mapped to
 * scopes (a viewer cannot mint a write-scoped key), org-owned keys that outlive their creator's
 * membership while narrowing with their role, a removed member's personal key losing the
 * organization at once, the last owner, every policy's refusal, the org audit log, the plan
 * counted per organization and deletion.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, expectError, PASSWORD, signupAndLogin, uniqueEmail } from "../helpers/http.js";
import { routeSecurity } from "../helpers/route-security.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { adminPatch, createKey, serviceKey, verify, type Api } from "./api-keys-fixtures.js";
import { enableTwoFactor } from "./twofa-support.js";

interface Person {
  userId: string;
  email: string;
  token: string;
}

describeEachStore("organizations", (store) => {
  let server: TestServer;
  let api: Api;
  let staff: Person;
  let verifier: string;

  const person = async (): Promise<Person> => {
    const user = await signupAndLogin(server.url, uniqueEmail("org"));
    return { userId: user.userId, email: user.email, token: user.accessToken };
  };

  async function newOrg(owner: Person, name = "Acme", plan = "team"): Promise<string> {
    const reply = await api.post("/v1/orgs", { name }, { token: owner.token });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    // Staff set the organization's plan, as for a person (its key limit counts its keys).
    await adminPatch(api, staff.token, reply.body.id, { plan });
    return reply.body.id as string;
  }

  async function invite(org: string, by: Person, email: string, role: string) {
    const reply = await api.post(
      `/v1/orgs/${org}/invitations`,
      { email, role },
      { token: by.token },
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return reply.body as { id: string; token: string; url: string };
  }

  async function join(org: string, by: Person, role: string): Promise<Person> {
    const member = await person();
    const { token } = await invite(org, by, member.email, role);
    const reply = await api.post("/v1/invitations/accept", { token }, { token: member.token });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    return member;
  }

  async function orgKey(org: string, who: Person, body: Record<string, unknown> = {}) {
    const reply = await api.post(
      `/v1/orgs/${org}/api-keys`,
      { name: "ci", scopes: ["services:read", "services:write"], expires_in: "7d", ...body },
      { token: who.token },
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return reply.body as { id: string; key: string; org_id: string; created_by: string };
  }

  beforeAll(async () => {
    server = await startTestServer({ store, env: { LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true" } });
    api = client(server.url);
    staff = await person();
    verifier = await serviceKey(server, api, staff.token);
  });
  afterAll(async () => {
    await server?.close();
  });

  routeSecurity("orgs", () => server);

  it("creates an organization, lists it and names it in whoami", async () => {
    const alice = await person();
    const created = await api.post("/v1/orgs", { name: "Acme Inc" }, { token: alice.token });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "Acme Inc", role: "owner", plan: "free" });
    expect(created.body.id).toMatch(/^org_/);
    const list = await api.get("/v1/orgs", { token: alice.token });
    expect(list.body.orgs.map((o: { id: string }) => o.id)).toEqual([created.body.id]);
    const whoami = await api.get("/v1/auth/whoami", { token: alice.token });
    expect(whoami.body.orgs).toEqual([{ id: created.body.id, name: "Acme Inc", role: "owner" }]);
    expect(whoami.body.org_id).toBeNull();
    const renamed = await api.patch(
      `/v1/orgs/${created.body.id}`,
      { name: "Acme" },
      { token: alice.token },
    );
    expect(renamed.body.name).toBe("Acme");
    // Not a member: as if there were no such organization.
    const stranger = await person();
    expectError(
      await api.get(`/v1/orgs/${created.body.id}`, { token: stranger.token }),
      404,
      "not_found",
    );
    expectError(
      await api.post("/v1/orgs", { name: " " }, { token: alice.token }),
      400,
      "invalid_request",
    );
    // The organization's account never signs in and is not a user staff list.
    const users = await api.get("/v1/admin/users?limit=500", { token: staff.token });
    expect(users.body.users.map((u: { id: string }) => u.id)).not.toContain(created.body.id);
    expectError(
      await api.post("/v1/auth/login", { email: created.body.id, password: PASSWORD }),
      400,
      "invalid_request",
    );
  });

  it("invitations: shown once, for one address, single use, revocable", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const bob = await person();
    const eve = await person();
    const { id, token, url } = await invite(org, alice, bob.email.toUpperCase(), "member");
    expect(url).toContain(`token=${token}`);
    const listed = await api.get(`/v1/orgs/${org}/invitations`, { token: alice.token });
    expect(listed.body.invitations).toHaveLength(1);
    expect(JSON.stringify(listed.body)).not.toContain(token);
    const stored = await server.db
      .selectFrom("org_invitations")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(stored)).not.toContain(token);
    expectError(
      await api.post("/v1/invitations/accept", { token }, { token: eve.token }),
      403,
      "forbidden",
    );
    const accepted = await api.post("/v1/invitations/accept", { token }, { token: bob.token });
    expect(accepted.status).toBe(200);
    expect(accepted.body.org).toMatchObject({ id: org, role: "member" });
    expectError(
      await api.post("/v1/invitations/accept", { token }, { token: bob.token }),
      409,
      "conflict",
    );
    expectError(
      await api.post("/v1/invitations/accept", { token: "lki_nope" }, { token: bob.token }),
      404,
      "not_found",
    );
    // Revoked before use: gone.
    const carol = await person();
    const second = await invite(org, alice, carol.email, "viewer");
    expect(
      (await api.delete(`/v1/orgs/${org}/invitations/${second.id}`, { token: alice.token })).status,
    ).toBe(204);
    expectError(
      await api.post("/v1/invitations/accept", { token: second.token }, { token: carol.token }),
      404,
      "not_found",
    );
    // A member cannot invite; an admin cannot invite owners; a member already in: 409.
    expectError(
      await api.post(
        `/v1/orgs/${org}/invitations`,
        { email: carol.email, role: "member" },
        { token: bob.token },
      ),
      403,
      "forbidden",
    );
    const admin = await join(org, alice, "admin");
    expectError(
      await api.post(
        `/v1/orgs/${org}/invitations`,
        { email: carol.email, role: "owner" },
        { token: admin.token },
      ),
      403,
      "forbidden",
    );
    expectError(
      await api.post(
        `/v1/orgs/${org}/invitations`,
        { email: bob.email, role: "admin" },
        { token: admin.token },
      ),
      409,
      "conflict",
    );
    // The mail went out through the outbox, with the link.
    const mails = await server.db
      .selectFrom("mail_outbox")
      .select("kind")
      .where("kind", "=", "org_invitation")
      .execute();
    expect(mails.length).toBeGreaterThanOrEqual(3);
  });

  it("20 racing accepts of one invitation admit exactly one", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const bob = await person();
    const { token } = await invite(org, alice, bob.email, "member");
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.post("/v1/invitations/accept", { token }, { token: bob.token }),
      ),
    );
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    for (const reply of replies.filter((r) => r.status !== 200))
      expectError(reply, 409, "conflict");
    const members = await api.get(`/v1/orgs/${org}/members`, { token: alice.token });
    expect(members.body.members.map((m: { user_id: string }) => m.user_id).sort()).toEqual(
      [alice.userId, bob.userId].sort(),
    );
  });

  it("a viewer cannot mint a write-scoped key; a member cannot change others' keys", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const viewer = await join(org, alice, "viewer");
    const denied = await api.post(
      `/v1/orgs/${org}/api-keys`,
      { name: "w", scopes: ["services:write"] },
      { token: viewer.token },
    );
    expectError(denied, 403, "scope_not_grantable");
    const readOnly = await orgKey(org, viewer, { scopes: ["services:read"] });
    expect(readOnly.org_id).toBe(org);
    expect(readOnly.created_by).toBe(viewer.userId);
    const member = await join(org, alice, "member");
    expectError(
      await api.post(
        `/v1/orgs/${org}/api-keys`,
        { name: "b", scopes: ["billing:write"] },
        { token: member.token },
      ),
      403,
      "scope_not_grantable",
    );
    const own = await orgKey(org, member);
    const aliceKey = await orgKey(org, alice);
    // Every member sees the organization's keys; a member changes only the ones they minted.
    const listed = await api.get(`/v1/orgs/${org}/api-keys`, { token: member.token });
    expect(listed.body.api_keys.map((k: { id: string }) => k.id).sort()).toEqual(
      [readOnly.id, own.id, aliceKey.id].sort(),
    );
    expect((await api.get(`/v1/api-keys/${aliceKey.id}`, { token: member.token })).status).toBe(
      200,
    );
    expectError(
      await api.delete(`/v1/api-keys/${aliceKey.id}`, { token: member.token }),
      403,
      "forbidden",
    );
    expectError(
      await api.patch(`/v1/api-keys/${aliceKey.id}`, { name: "x" }, { token: member.token }),
      403,
      "forbidden",
    );
    expect(
      (await api.patch(`/v1/api-keys/${own.id}`, { name: "mine" }, { token: member.token })).status,
    ).toBe(200);
    // An admin manages every key; a stranger sees none of them.
    expect((await api.delete(`/v1/api-keys/${readOnly.id}`, { token: alice.token })).status).toBe(
      200,
    );
    const stranger = await person();
    expectError(
      await api.get(`/v1/api-keys/${own.id}`, { token: stranger.token }),
      404,
      "not_found",
    );
    // Org keys are not the member's personal keys.
    const mine = await api.get("/v1/api-keys", { token: member.token });
    expect(mine.body.api_keys).toEqual([]);
  });

  it("an org key outlives its creator's membership and narrows with their role at once", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const bob = await join(org, alice, "admin");
    const key = await orgKey(org, bob, {
      scopes: ["services:read", "services:write", "billing:write"],
    });
    const first = await verify(api, verifier, { key: key.key, scopes: ["billing:write"] });
    expect(first).toMatchObject({ valid: true, org_id: org, owner_id: org });
    // Demoted to member: billing:write is gone from his keys at the next verification.
    await api.patch(
      `/v1/orgs/${org}/members/${bob.userId}`,
      { role: "member" },
      { token: alice.token },
    );
    const demoted = await verify(api, verifier, { key: key.key, scopes: ["billing:write"] });
    expect(demoted.code).toBe("scope_insufficient");
    expect(demoted.scopes).toEqual(["services:read", "services:write"]);
    expect((await verify(api, verifier, { key: key.key, scopes: ["services:write"] })).valid).toBe(
      true,
    );
    await api.patch(
      `/v1/orgs/${org}/members/${bob.userId}`,
      { role: "viewer" },
      { token: alice.token },
    );
    const viewer = await verify(api, verifier, { key: key.key });
    expect(viewer.scopes).toEqual(["services:read"]);
    // He leaves: the key is the organization's alone and works with the organization's access.
    const left = await api.delete(`/v1/orgs/${org}/members/${bob.userId}`, { token: bob.token });
    expect(left.status).toBe(204);
    const after = await verify(api, verifier, {
      key: key.key,
      scopes: ["services:write", "billing:write"],
    });
    expect(after).toMatchObject({ valid: true, org_id: org });
    // And an org key acts as the organization on Latchkey's own API.
    const whoami = await api.get("/v1/auth/whoami", { token: key.key });
    expect(whoami.body).toMatchObject({ user_id: org, org_id: org });
  });

  it("a removed member's personal key loses the organization's resources at once", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const bob = await join(org, alice, "member");
    const personal = await createKey(api, bob.token, { scopes: ["keys:read", "audit:read"] });
    expect((await api.get(`/v1/orgs/${org}/api-keys`, { token: personal.key })).status).toBe(200);
    // A personal key only reads in an organization.
    expectError(
      await api.post(
        `/v1/orgs/${org}/api-keys`,
        { name: "x", scopes: ["services:read"] },
        { token: personal.key },
      ),
      403,
      "scope_insufficient",
    );
    const removed = await api.delete(`/v1/orgs/${org}/members/${bob.userId}`, {
      token: alice.token,
    });
    expect(removed.status).toBe(204);
    expectError(
      await api.get(`/v1/orgs/${org}/api-keys`, { token: personal.key }),
      404,
      "not_found",
    );
    expectError(await api.get(`/v1/orgs/${org}/api-keys`, { token: bob.token }), 404, "not_found");
    // The key itself still works for its owner's own things.
    expect((await api.get("/v1/api-keys", { token: personal.key })).status).toBe(200);
  });

  it("the last owner cannot leave or be demoted; an admin cannot touch owners", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    expectError(
      await api.delete(`/v1/orgs/${org}/members/${alice.userId}`, { token: alice.token }),
      409,
      "conflict",
    );
    expectError(
      await api.patch(
        `/v1/orgs/${org}/members/${alice.userId}`,
        { role: "admin" },
        { token: alice.token },
      ),
      409,
      "conflict",
    );
    const admin = await join(org, alice, "admin");
    expectError(
      await api.patch(
        `/v1/orgs/${org}/members/${alice.userId}`,
        { role: "member" },
        { token: admin.token },
      ),
      403,
      "forbidden",
    );
    expectError(
      await api.delete(`/v1/orgs/${org}/members/${alice.userId}`, { token: admin.token }),
      403,
      "forbidden",
    );
    // Two owners demoting each other at once: one of them stays owner.
    const bob = await join(org, alice, "owner");
    const [a, b] = await Promise.all([
      api.patch(
        `/v1/orgs/${org}/members/${bob.userId}`,
        { role: "member" },
        { token: alice.token },
      ),
      api.patch(
        `/v1/orgs/${org}/members/${alice.userId}`,
        { role: "member" },
        { token: bob.token },
      ),
    ]);
    // The loser is refused as the last owner (409), or as no longer an owner (403).
    const statuses = [a.status, b.status];
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect([403, 409]).toContain(statuses.find((s) => s !== 200));
    const members = await api.get(`/v1/orgs/${org}/members`, { token: admin.token });
    expect(members.body.members.filter((m: { role: string }) => m.role === "owner")).toHaveLength(
      1,
    );
  });

  it("two owners leaving at once leave one of them owner", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const bob = await join(org, alice, "owner");
    const [a, b] = await Promise.all([
      api.delete(`/v1/orgs/${org}/members/${alice.userId}`, { token: alice.token }),
      api.delete(`/v1/orgs/${org}/members/${bob.userId}`, { token: bob.token }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([204, 409]);
    const stayer = a.status === 409 ? alice : bob;
    const members = await api.get(`/v1/orgs/${org}/members`, { token: stayer.token });
    expect(members.status).toBe(200);
    expect(members.body.members).toEqual([
      expect.objectContaining({ user_id: stayer.userId, role: "owner" }),
    ]);
  });

  describe("policies", () => {
    it("maximum key lifetime", async () => {
      const alice = await person();
      const org = await newOrg(alice);
      const old = await orgKey(org, alice, { expires_in: "1y" });
      const set = await api.patch(
        `/v1/orgs/${org}/policy`,
        { max_key_lifetime: "30d" },
        { token: alice.token },
      );
      expect(set.status, JSON.stringify(set.body)).toBe(200);
      expect(set.body.max_key_lifetime).toBe("30d");
      const noExpiry = await api.post(
        `/v1/orgs/${org}/api-keys`,
        { name: "x", scopes: ["services:read"] },
        { token: alice.token },
      );
      expectError(noExpiry, 403, "policy_violation");
      expectError(
        await api.post(
          `/v1/orgs/${org}/api-keys`,
          { name: "x", scopes: ["services:read"], expires_in: "60d" },
          { token: alice.token },
        ),
        403,
        "policy_violation",
      );
      await orgKey(org, alice, { expires_in: "30d" });
      // The longer-lived key was shortened to end within the policy.
      const shortened = await api.get(`/v1/api-keys/${old.id}`, { token: alice.token });
      expect(Date.parse(shortened.body.expires_at)).toBeLessThanOrEqual(
        Date.now() + 30 * 86_400_000,
      );
      // A member's personal keys are not the organization's: no policy there.
      await createKey(api, alice.token);
    });

    it("allowed environments, also for keys made before", async () => {
      const alice = await person();
      const org = await newOrg(alice);
      const live = await orgKey(org, alice);
      // A token exchanged for the key before the change: it acts as its key, so it stops too.
      const exchanged = await api.post("/v1/keys/exchange", {}, { token: live.key });
      expect(exchanged.status, JSON.stringify(exchanged.body)).toBe(200);
      const token = exchanged.body.access_token as string;
      expect((await api.get("/v1/auth/whoami", { token })).status).toBe(200);
      await api.patch(
        `/v1/orgs/${org}/policy`,
        { allowed_environments: ["test"] },
        { token: alice.token },
      );
      expectError(
        await api.post(
          `/v1/orgs/${org}/api-keys`,
          { name: "x", scopes: ["services:read"], environment: "live" },
          { token: alice.token },
        ),
        403,
        "policy_violation",
      );
      await orgKey(org, alice, { environment: "test" });
      expect((await verify(api, verifier, { key: live.key })).code).toBe("policy_violation");
      expectError(await api.get("/v1/auth/whoami", { token: live.key }), 403, "policy_violation");
      expectError(await api.get("/v1/auth/whoami", { token }), 403, "policy_violation");
      expectError(
        await api.post("/v1/keys/exchange", {}, { token: live.key }),
        403,
        "policy_violation",
      );
    });

    it("allowed scopes narrow every org key; asking beyond them is refused", async () => {
      const alice = await person();
      const org = await newOrg(alice);
      const key = await orgKey(org, alice);
      await api.patch(
        `/v1/orgs/${org}/policy`,
        { allowed_scopes: ["services:read"] },
        { token: alice.token },
      );
      expectError(
        await api.post(
          `/v1/orgs/${org}/api-keys`,
          { name: "x", scopes: ["services:write"], expires_in: "1d" },
          { token: alice.token },
        ),
        403,
        "policy_violation",
      );
      expect((await verify(api, verifier, { key: key.key })).scopes).toEqual(["services:read"]);
      expectError(
        await api.patch(
          `/v1/orgs/${org}/policy`,
          { allowed_scopes: ["nope:read"] },
          { token: alice.token },
        ),
        400,
        "invalid_request",
      );
    });

    it("an IP allowlist every org key inherits", async () => {
      const alice = await person();
      const org = await newOrg(alice);
      const key = await orgKey(org, alice);
      expectError(
        await api.patch(
          `/v1/orgs/${org}/policy`,
          { ip_allow: ["not-an-ip"] },
          { token: alice.token },
        ),
        400,
        "invalid_request",
      );
      await api.patch(
        `/v1/orgs/${org}/policy`,
        { ip_allow: ["203.0.113.0/24"] },
        { token: alice.token },
      );
      expect((await verify(api, verifier, { key: key.key, ip: "203.0.113.9" })).valid).toBe(true);
      expect((await verify(api, verifier, { key: key.key, ip: "198.51.100.1" })).code).toBe(
        "ip_not_allowed",
      );
    });

    it("required two-factor keeps members without it out until they enrol", async () => {
      const alice = await person();
      const org = await newOrg(alice);
      const bob = await join(org, alice, "member");
      const bobKey = await orgKey(org, bob);
      await api.patch(`/v1/orgs/${org}/policy`, { require_2fa: true }, { token: alice.token });
      expectError(
        await api.get(`/v1/orgs/${org}/api-keys`, { token: bob.token }),
        403,
        "policy_violation",
      );
      expectError(
        await api.get(`/v1/orgs/${org}/api-keys`, { token: alice.token }),
        403,
        "policy_violation",
      );
      // Seeing the organization (and its policy) still works, so they know why.
      expect((await api.get(`/v1/orgs/${org}`, { token: bob.token })).body.policy.require_2fa).toBe(
        true,
      );
      // Their keys in the organization have nothing to use meanwhile.
      expect((await verify(api, verifier, { key: bobKey.key })).scopes).toEqual([]);
      await enableTwoFactor(server.url, bob.token, Date.now());
      expect((await api.get(`/v1/orgs/${org}/api-keys`, { token: bob.token })).status).toBe(200);
      expect((await verify(api, verifier, { key: bobKey.key })).scopes.length).toBeGreaterThan(0);
    });

    it("only owners and admins set policies", async () => {
      const alice = await person();
      const org = await newOrg(alice);
      const bob = await join(org, alice, "member");
      expectError(
        await api.patch(`/v1/orgs/${org}/policy`, { require_2fa: true }, { token: bob.token }),
        403,
        "forbidden",
      );
      expectError(
        await api.patch(`/v1/orgs/${org}/policy`, {}, { token: alice.token }),
        400,
        "invalid_request",
      );
    });
  });

  it("the org audit log shows the organization's events to its admins", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const bob = await join(org, alice, "member");
    const key = await orgKey(org, bob);
    await api.delete(`/v1/api-keys/${key.id}`, { token: bob.token });
    const log = await api.get(`/v1/orgs/${org}/audit-log`, { token: alice.token });
    expect(log.status).toBe(200);
    const events = log.body.events.map((e: { event: string }) => e.event);
    for (const event of [
      "org_created",
      "org_invitation_created",
      "org_invitation_accepted",
      "key_created",
      "key_revoked",
    ])
      expect(events).toContain(event);
    expect(log.body.events.every((e: { org_id: string }) => e.org_id === org)).toBe(true);
    expectError(await api.get(`/v1/orgs/${org}/audit-log`, { token: bob.token }), 403, "forbidden");
    // Others' personal events are not in it.
    expect(events).not.toContain("login");
  });

  it("the plan's key limit counts the organization's keys", async () => {
    const alice = await person();
    const org = await newOrg(alice, "Small", "free");
    await orgKey(org, alice);
    await orgKey(org, alice);
    const third = await api.post(
      `/v1/orgs/${org}/api-keys`,
      { name: "x", scopes: ["services:read"] },
      { token: alice.token },
    );
    expectError(third, 403, "plan_limit_reached");
    // Alice's own space is counted apart.
    await createKey(api, alice.token);
  });

  it("projects of the organization bind its keys", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const project = await api.post(
      `/v1/orgs/${org}/projects`,
      { name: "web" },
      { token: alice.token },
    );
    expect(project.status).toBe(201);
    const key = await orgKey(org, alice, { project_id: project.body.id });
    expect((await verify(api, verifier, { key: key.key, project_id: project.body.id })).valid).toBe(
      true,
    );
    const mine = await api.post("/v1/projects", { name: "mine" }, { token: alice.token });
    expectError(
      await api.post(
        `/v1/orgs/${org}/api-keys`,
        { name: "x", scopes: ["services:read"], project_id: mine.body.id },
        { token: alice.token },
      ),
      404,
      "not_found",
    );
    const listed = await api.get(`/v1/orgs/${org}/projects`, { token: alice.token });
    expect(listed.body.projects.map((p: { id: string }) => p.id)).toEqual([project.body.id]);
  });

  it("the Latchkey-Org header switches key, project and webhook routes into the organization", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const bob = await join(org, alice, "member");
    const viewer = await join(org, alice, "viewer");
    const inOrg = (token: string) => ({ token, headers: { "latchkey-org": org } });
    const created = await api.post(
      "/v1/api-keys",
      { name: "ci", scopes: ["services:read"], expires_in: "7d" },
      inOrg(bob.token),
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ org_id: org, created_by: bob.userId });
    const listed = await api.get("/v1/api-keys", inOrg(alice.token));
    expect(listed.body.api_keys.map((k: { id: string }) => k.id)).toEqual([created.body.id]);
    expect((await api.get("/v1/api-keys", { token: bob.token })).body.api_keys).toEqual([]);
    expectError(
      await api.post(
        "/v1/api-keys",
        { name: "w", scopes: ["services:write"] },
        inOrg(viewer.token),
      ),
      403,
      "scope_not_grantable",
    );
    // A personal key reads there, never writes; a stranger's header names nothing.
    const personal = await createKey(api, bob.token, { scopes: ["keys:read", "keys:write"] });
    expect((await api.get("/v1/api-keys", inOrg(personal.key))).status).toBe(200);
    expectError(
      await api.post("/v1/api-keys", { name: "x", scopes: ["services:read"] }, inOrg(personal.key)),
      403,
      "scope_insufficient",
    );
    const stranger = await person();
    expectError(await api.get("/v1/api-keys", inOrg(stranger.token)), 404, "not_found");
    // Projects and webhook endpoints of the organization; members cannot add endpoints.
    const project = await api.post("/v1/projects", { name: "web" }, inOrg(alice.token));
    expect(project.status).toBe(201);
    expect(
      (await api.get(`/v1/orgs/${org}/projects`, { token: bob.token })).body.projects,
    ).toHaveLength(1);
    const hook = { url: "http://127.0.0.1:9/acme", events: ["key.created"] };
    expectError(await api.post("/v1/webhooks", hook, inOrg(bob.token)), 403, "scope_insufficient");
    const endpoint = await api.post("/v1/webhooks", hook, inOrg(alice.token));
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    expect((await api.get("/v1/webhooks", inOrg(bob.token))).body.webhooks).toHaveLength(1);
    const own = await api.get("/v1/webhooks", { token: alice.token });
    expect(JSON.stringify(own.body)).not.toContain(endpoint.body.id);
  });

  it("an organization's leak policy: set by its owners and admins, applied to its keys", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const bob = await join(org, alice, "member");
    const inOrg = (token: string) => ({ token, headers: { "latchkey-org": org } });
    expectError(
      await api.put("/v1/keys/leaks/policy", { policy: "quarantine" }, inOrg(bob.token)),
      403,
      "forbidden",
    );
    const set = await api.put(
      "/v1/keys/leaks/policy",
      { policy: "quarantine" },
      inOrg(alice.token),
    );
    expect(set.body).toEqual({ policy: "quarantine" });
    expect((await api.get("/v1/keys/leaks/policy", inOrg(bob.token))).body.policy).toBe(
      "quarantine",
    );
    expect((await api.get("/v1/keys/leaks/policy", { token: alice.token })).body.policy).toBe(
      "revoke",
    );
    const key = await orgKey(org, bob);
    await api.post("/v1/keys/leaks", { keys: [{ key: key.key, source: "test" }] });
    expect((await verify(api, verifier, { key: key.key })).code).toBe("key_leaked");
  });

  it("deletes only without active keys, or revoking them all", async () => {
    const alice = await person();
    const org = await newOrg(alice);
    const bob = await join(org, alice, "admin");
    const key = await orgKey(org, alice);
    expectError(await api.delete(`/v1/orgs/${org}`, { token: bob.token }), 403, "forbidden");
    expectError(await api.delete(`/v1/orgs/${org}`, { token: alice.token }), 409, "conflict");
    const deleted = await api.delete(`/v1/orgs/${org}?revoke_keys=true`, { token: alice.token });
    expect(deleted.body).toEqual({ deleted: true, keys_revoked: 1 });
    expect((await verify(api, verifier, { key: key.key })).code).toBe("key_revoked");
    expectError(await api.get(`/v1/orgs/${org}`, { token: alice.token }), 404, "not_found");
    expect((await api.get("/v1/orgs", { token: bob.token })).body.orgs).toEqual([]);
  });
});
