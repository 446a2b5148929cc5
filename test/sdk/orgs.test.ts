/**
 * The SDK client's organization methods and the verifier's `orgId` (SPEC §10) against a real
 * server, on each store: the package as a service installs it.
 */
import { createVerifier, Latchkey, LatchkeyApiError } from "latchkey";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { platformService, UNLIMITED } from "./support.js";

describeEachStore("SDK client: organizations", (store) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ store, env: UNLIMITED });
  });
  afterAll(async () => {
    await server?.close();
  });

  const signedIn = async () => {
    const email = uniqueEmail("sdk-org");
    const sdk = new Latchkey({ baseUrl: server.url });
    const signup = await sdk.auth.signup({ email, password: PASSWORD });
    await sdk.auth.login({ email, password: PASSWORD });
    return { sdk, email, userId: signup.user.id };
  };

  const refused = async (call: Promise<unknown>) => {
    const error = await call.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LatchkeyApiError);
    return error as LatchkeyApiError;
  };

  it("creates, invites, accepts, mints org keys and verifies them with orgId", async () => {
    const service = await platformService(server.url);
    const alice = await signedIn();
    const org = await alice.sdk.orgs.create({ name: "Acme" });
    expect(org).toMatchObject({ name: "Acme", role: "owner" });
    expect((await alice.sdk.orgs.list()).orgs.map((o) => o.id)).toEqual([org.id]);

    const bob = await signedIn();
    const invitation = await alice.sdk.orgs.invite(org.id, { email: bob.email, role: "member" });
    expect(invitation.token).toMatch(/^lki_/);
    expect((await alice.sdk.orgs.invitations(org.id)).invitations).toHaveLength(1);
    const accepted = await bob.sdk.orgs.acceptInvitation(invitation.token);
    expect(accepted.org).toMatchObject({ id: org.id, role: "member" });
    const members = await alice.sdk.orgs.members(org.id);
    expect(members.members.map((m) => m.email).sort()).toEqual([alice.email, bob.email].sort());

    const key = await bob.sdk.orgs.createKey(org.id, {
      name: "ci",
      scopes: ["services:read", "services:write"],
    });
    expect(key).toMatchObject({ org_id: org.id, created_by: bob.userId });
    expect((await alice.sdk.orgs.keys(org.id)).api_keys.map((k) => k.id)).toEqual([key.id]);

    const verifier = createVerifier({ baseUrl: server.url, apiKey: service.key });
    try {
      const verdict = await verifier.verify(key.key, { scopes: ["services:read"] });
      expect(verdict.valid).toBe(true);
      if (verdict.valid) expect(verdict.principal).toMatchObject({ orgId: org.id, userId: org.id });
      // A person's key: no organization.
      const own = await bob.sdk.keys.create({ name: "mine", scopes: ["services:read"] });
      const mine = await verifier.verify(own.key);
      if (mine.valid) expect(mine.principal.orgId).toBeNull();
      expect(mine.valid).toBe(true);

      // A policy refuses the org key: policy_violation, 403, through the verifier too.
      await alice.sdk.orgs.setPolicy(org.id, { allowed_environments: ["test"] });
      expect((await alice.sdk.orgs.policy(org.id)).allowed_environments).toEqual(["test"]);
      const after = await verifier.verify(key.key);
      expect(after).toMatchObject({ valid: false, code: "policy_violation", status: 403 });
      const create = await refused(
        bob.sdk.orgs.createKey(org.id, { name: "x", scopes: ["services:read"] }),
      );
      expect(create.code).toBe("policy_violation");
    } finally {
      await verifier.close();
    }

    // useOrg: the generic key and project calls act in the organization.
    alice.sdk.useOrg(org.id);
    expect(alice.sdk.org).toBe(org.id);
    expect((await alice.sdk.keys.list()).api_keys.map((k) => k.id)).toEqual([key.id]);
    const project = await alice.sdk.projects.create({ name: "web" });
    expect((await alice.sdk.orgs.projects(org.id)).projects.map((p) => p.id)).toEqual([project.id]);
    alice.sdk.useOrg(null);
    expect((await alice.sdk.keys.list()).api_keys).toEqual([]);

    await alice.sdk.orgs.setRole(org.id, bob.userId, "viewer");
    const events = (await alice.sdk.orgs.auditLog(org.id)).events.map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(["org_created", "org_member_role_changed"]));
    await bob.sdk.orgs.leave(org.id);
    expect((await bob.sdk.orgs.list()).orgs).toEqual([]);
    const last = await refused(alice.sdk.orgs.leave(org.id));
    expect(last.code).toBe("conflict");

    const busy = await refused(alice.sdk.orgs.delete(org.id));
    expect(busy.code).toBe("conflict");
    expect(await alice.sdk.orgs.delete(org.id, { revokeKeys: true })).toEqual({
      deleted: true,
      keys_revoked: 1,
    });
  });
});
