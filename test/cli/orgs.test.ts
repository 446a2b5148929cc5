/**
 * `latchkey org …` and `--org` on token and webhook commands (SPEC §10) against a real
 * server: create, invite (the one-time link and token printed once), accept on another
 * machine, members, roles, switching, org-owned keys, policies refusing with their exit code,
 * the last owner, removal, the audit log, deletion; and the real binary at the process boundary.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { Machine } from "./support.js";

describe.sequential("latchkey org", { timeout: 90_000 }, () => {
  let server: TestServer;
  const machines: Machine[] = [];

  beforeAll(async () => {
    server = await startTestServer({ env: { LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true" } });
    // The first account is staff: it sets organizations' plans.
    await person();
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
  });

  async function person() {
    const api = client(server.url);
    const email = uniqueEmail("org-cli");
    const signup = await api.post("/v1/auth/signup", { email, password: PASSWORD });
    expect(signup.status).toBe(201);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    return { m, email, userId: signup.body.user.id as string, token: login.body.access_token };
  }

  it("creates, invites, accepts, switches and mints organization keys", async () => {
    const alice = await person();
    const created = await alice.m.run(["org", "create", "Acme Inc"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain("Created organization Acme Inc");
    const [org] = (await alice.m.json(["org", "list"])).orgs;
    expect(org).toMatchObject({ name: "Acme Inc", role: "owner" });

    const bob = await person();
    const invited = await alice.m.run([
      "org",
      "invite",
      bob.email,
      "--role",
      "admin",
      "--org",
      "acme inc",
    ]);
    expect(invited.code, invited.stderr).toBe(0);
    const token = /latchkey org accept (lki_\S+)/.exec(invited.stdout)?.[1];
    expect(token).toBeDefined();
    expect(invited.stdout).toContain(`/accept-invitation?token=${token}`);
    const pending = await alice.m.json(["org", "invitations", org.id]);
    expect(pending.invitations).toHaveLength(1);
    expect(JSON.stringify(pending)).not.toContain(token);

    const accepted = await bob.m.run(["org", "accept", token!]);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stdout).toContain("Joined Acme Inc");
    const again = await bob.m.run(["org", "accept", token!]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already accepted");

    const members = await alice.m.run(["org", "members", org.id]);
    expect(members.stdout).toMatch(/USER ID\s+EMAIL\s+ROLE\s+2FA\s+JOINED/);
    expect(members.stdout).toContain(bob.email);

    // --org on token commands; then a switch makes it the default.
    const key = await bob.m.json([
      "token",
      "create",
      "ci",
      "--scope",
      "services:read",
      "--expires",
      "30d",
      "--org",
      org.id,
    ]);
    expect(key).toMatchObject({ org_id: org.id, created_by: bob.userId });
    expect((await bob.m.json(["token", "list"])).api_keys).toEqual([]);
    const switched = await bob.m.run(["org", "switch", "Acme Inc"]);
    expect(switched.code, switched.stderr).toBe(0);
    const listed = await bob.m.json(["token", "list"]);
    expect(listed.api_keys.map((k: { id: string }) => k.id)).toEqual([key.id]);
    expect((await bob.m.json(["org", "list"])).current).toBe(org.id);
    const own = await bob.m.json([
      "token",
      "create",
      "mine",
      "--scope",
      "services:read",
      "--personal",
    ]);
    expect(own.org_id).toBeNull();
    // Webhook endpoints of the switched organization.
    const hook = await bob.m.run([
      "webhook",
      "create",
      "http://127.0.0.1:9/acme",
      "--event",
      "key.created",
    ]);
    expect(hook.code, hook.stderr).toBe(0);
    expect((await alice.m.json(["webhook", "list", "--org", org.id])).webhooks).toHaveLength(1);
    expect((await alice.m.json(["webhook", "list"])).webhooks).toHaveLength(0);
    const back = await bob.m.run(["org", "switch", "--personal"]);
    expect(back.code).toBe(0);
    expect((await bob.m.json(["token", "list"])).api_keys.map((k: { id: string }) => k.id)).toEqual(
      [own.id],
    );

    // Roles: bob demoted to viewer cannot mint a write key (exit 1, scope_not_grantable).
    const role = await alice.m.run(["org", "role", bob.userId, "viewer", "--org", org.id]);
    expect(role.code, role.stderr).toBe(0);
    const refused = await bob.m.run([
      "token",
      "create",
      "w",
      "--scope",
      "services:write",
      "--org",
      org.id,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("not grantable");
    const badRole = await alice.m.run(["org", "role", bob.userId, "boss", "--org", org.id]);
    expect(badRole.code).toBe(2);

    // Removed: his key stays the organization's.
    const removed = await alice.m.run(["org", "remove", bob.userId, "--org", org.id]);
    expect(removed.code, removed.stderr).toBe(0);
    const stillThere = await alice.m.json(["token", "list", "--org", org.id]);
    expect(stillThere.api_keys.map((k: { id: string }) => k.id)).toEqual([key.id]);
    const gone = await bob.m.run(["token", "list", "--org", org.id]);
    expect(gone.code).toBe(1);

    // The last owner cannot leave (409 → exit 1), and the audit log shows what happened.
    const leave = await alice.m.run(["org", "leave", org.id]);
    expect(leave.code).toBe(1);
    expect(leave.stderr).toContain("at least one owner");
    const audit = await alice.m.json(["org", "audit", org.id]);
    const events = audit.events.map((e: { event: string }) => e.event);
    expect(events).toEqual(
      expect.arrayContaining([
        "org_created",
        "org_invitation_accepted",
        "org_member_removed",
        "key_created",
      ]),
    );
  });

  it("sets policies that refuse with policy_violation, and deletes with --revoke-keys", async () => {
    const alice = await person();
    const org = await alice.m.json(["org", "create", "Policy Co"]);
    const set = await alice.m.run([
      "org",
      "policy",
      "set",
      "--org",
      org.id,
      "--max-key-lifetime",
      "30d",
      "--environments",
      "test",
    ]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/Max key lifetime\s+30d/);
    const shown = await alice.m.json(["org", "policy", "show", org.id]);
    expect(shown).toMatchObject({ max_key_lifetime: "30d", allowed_environments: ["test"] });
    const noExpiry = await alice.m.run([
      "token",
      "create",
      "x",
      "--scope",
      "services:read",
      "--env",
      "test",
      "--org",
      org.id,
    ]);
    expect(noExpiry.code).toBe(1);
    expect(noExpiry.stderr).toContain("expire within 30d");
    const live = await alice.m.run([
      "token",
      "create",
      "x",
      "--scope",
      "services:read",
      "--expires",
      "7d",
      "--org",
      org.id,
    ]);
    expect(live.code).toBe(1);
    expect(live.stderr).toContain("only test keys");
    const ok = await alice.m.json([
      "token",
      "create",
      "x",
      "--scope",
      "services:read",
      "--expires",
      "7d",
      "--env",
      "test",
      "--org",
      org.id,
    ]);
    expect(ok.environment).toBe("test");
    const cleared = await alice.m.json([
      "org",
      "policy",
      "set",
      "--org",
      org.id,
      "--environments",
      "any",
      "--max-key-lifetime",
      "none",
    ]);
    expect(cleared).toMatchObject({ max_key_lifetime: null, allowed_environments: null });
    const nothing = await alice.m.run(["org", "policy", "set", "--org", org.id]);
    expect(nothing.code).toBe(2);

    const refused = await alice.m.run(["org", "delete", org.id, "--yes"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("active API key");
    const deleted = await alice.m.json(["org", "delete", org.id, "--yes", "--revoke-keys"]);
    expect(deleted).toEqual({ deleted: true, keys_revoked: 1 });
    expect((await alice.m.json(["org", "list"])).orgs).toEqual([]);
  });

  it("explains an unknown organization and a missing one, through the real binary", async () => {
    const alice = await person();
    const unknown = await alice.m.spawn(["org", "show", "nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no organization nope among yours");
    expect(unknown.stderr).not.toMatch(/at .*\.js:\d+/);
    const none = await alice.m.spawn(["org", "members"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("name the organization, or switch to one first");
    const both = await alice.m.spawn(["token", "list", "--org", "x", "--personal"]);
    expect(both.code).toBe(2);
    const created = await alice.m.spawn(["org", "create", "Spawned", "-o", "json"]);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: "Spawned", role: "owner" });
  });
});
