import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  expectCode,
  sessionCaller,
  signUp,
  testServices,
  type TestDeps,
} from "../../../test/store/deps.js";
import type { UserAccess } from "../accounts/users.js";
import type { Caller } from "./api-keys.js";

describe("ApiKeys", () => {
  let t: TestDeps;
  let staff: UserAccess;
  let owner: UserAccess;
  let caller: Caller;
  beforeEach(async () => {
    t = await testServices();
    staff = await signUp(t, "staff@example.test");
    owner = await signUp(t, "ada@example.test");
    caller = sessionCaller(owner);
  });
  afterEach(async () => t.close());

  it("creates a key: the secret once, only its hash stored, audited without the secret", async () => {
    const created = await t.services.apiKeys.create(caller, {
      name: "ci",
      scopes: ["keys:read", "keys:read"],
      expires_in: "30d",
    });
    expect(created.key).toMatch(/^lk_live_/);
    expect(created.row).toMatchObject({
      owner_id: owner.id,
      environment: "live",
      scopes: '["keys:read"]',
      expires_at: t.clock.now + 30 * 24 * 3_600_000,
    });
    expect(created.at).toBe(t.clock.now);
    const stored = await t.deps.store.keys.byHash(created.row.key_hash);
    expect(JSON.stringify(stored)).not.toContain(created.key);
    const [event] = await t.services.audit.list({ userId: owner.id, limit: 1 });
    expect(event?.event).toBe("key_created");
    expect(JSON.stringify(event)).not.toContain(created.key);
  });

  it("refuses unknown scopes, ungrantable ones, bad durations and foreign projects", async () => {
    const unknown = await expectCode(
      t.services.apiKeys.create(caller, { name: "x", scopes: ["nope:nope"] }),
      "invalid_request",
    );
    expect(unknown.extras.details).toEqual([
      { field: "scopes.0", message: "unknown scope: nope:nope" },
    ]);
    await expectCode(
      t.services.apiKeys.create(caller, { name: "x", scopes: ["admin:*"] }),
      "scope_not_grantable",
    );
    await expectCode(
      t.services.apiKeys.create(caller, { name: "x", scopes: ["keys:read"], expires_in: "soon" }),
      "invalid_request",
    );
    const theirs = await t.services.projects.create(staff.id, "theirs", caller);
    await expectCode(
      t.services.apiKeys.create(caller, {
        name: "x",
        scopes: ["keys:read"],
        project_id: theirs.id,
      }),
      "not_found",
    );
  });

  it("enforces the plan's active-key limit; a revoked key frees its slot", async () => {
    const make = () => t.services.apiKeys.create(caller, { name: "k", scopes: ["keys:read"] });
    const first = await make();
    await make();
    const refused = await expectCode(make(), "plan_limit_reached");
    expect(refused.extras.limit).toBe(2);
    await t.services.apiKeys.revoke(caller, first.row.id);
    await make();
  });

  it("edits only by narrowing, hides other users' keys, revokes with descendants", async () => {
    const parent = await t.services.apiKeys.create(caller, {
      name: "parent",
      scopes: ["keys:read", "keys:write"],
    });
    const edited = await t.services.apiKeys.edit(caller, parent.row.id, {
      name: "renamed",
      scopes: ["keys:read"],
    });
    expect(edited.row).toMatchObject({ name: "renamed", scopes: '["keys:read"]' });
    await expectCode(
      t.services.apiKeys.edit(caller, parent.row.id, { scopes: ["keys:read", "keys:write"] }),
      "scope_expansion_not_allowed",
    );
    await expectCode(t.services.apiKeys.own(sessionCaller(staff), parent.row.id), "not_found");
    await expectCode(t.services.apiKeys.revoke(sessionCaller(staff), parent.row.id), "not_found");
    const revoked = await t.services.apiKeys.revoke(caller, parent.row.id);
    expect(revoked.row.revoked_at).toBe(t.clock.now);
    // Revoking again changes nothing.
    t.clock.now += 1000;
    expect((await t.services.apiKeys.revoke(caller, parent.row.id)).row.revoked_at).toBe(
      t.clock.now - 1000,
    );
  });

  it("a key minting a key stays within its own scopes and environment; revoking it revokes the child", async () => {
    const minter = await t.services.apiKeys.create(caller, {
      name: "minter",
      scopes: ["keys:read", "keys:write"],
      environment: "test",
    });
    const asKey: Caller = {
      ...caller,
      keyId: minter.row.id,
      scopes: new Set(["keys:read", "keys:write"]),
      actor: `key:${minter.row.id}`,
    };
    await expectCode(
      t.services.apiKeys.create(asKey, { name: "wider", scopes: ["services:read"] }),
      "scope_not_grantable",
    );
    await expectCode(
      t.services.apiKeys.create(asKey, {
        name: "live",
        scopes: ["keys:read"],
        environment: "live",
      }),
      "scope_not_grantable",
    );
    const child = await t.services.apiKeys.create(asKey, { name: "child", scopes: ["keys:read"] });
    expect(child.row).toMatchObject({ environment: "test", parent_key_id: minter.row.id });
    await t.services.apiKeys.revoke(caller, minter.row.id);
    expect((await t.services.apiKeys.own(caller, child.row.id)).revoked_at).toBe(t.clock.now);
  });

  it("rotates once: the successor keeps name and scopes, the old key may end sooner", async () => {
    const old = await t.services.apiKeys.create(caller, { name: "svc", scopes: ["keys:read"] });
    const next = await t.services.apiKeys.rotate(caller, old.row.id, "1h");
    expect(next.row).toMatchObject({
      name: "svc",
      scopes: '["keys:read"]',
      rotated_from: old.row.id,
    });
    expect((await t.services.apiKeys.own(caller, old.row.id)).expires_at).toBe(
      t.clock.now + 3_600_000,
    );
    await expectCode(t.services.apiKeys.rotate(caller, old.row.id, undefined), "conflict");
    await expectCode(t.services.apiKeys.rotate(caller, next.row.id, "later"), "invalid_request");
    // The overlap is free: the free plan's second slot is still open.
    await t.services.apiKeys.create(caller, { name: "other", scopes: ["keys:read"] });
    t.clock.now += 3_600_000;
    await expectCode(t.services.apiKeys.rotate(caller, old.row.id, undefined), "conflict");
  });

  it("lists the owner's keys newest first", async () => {
    const a = await t.services.apiKeys.create(caller, { name: "a", scopes: ["keys:read"] });
    t.clock.now += 1;
    const b = await t.services.apiKeys.create(caller, { name: "b", scopes: ["keys:read"] });
    expect((await t.services.apiKeys.list(owner.id)).map((k) => k.id)).toEqual([
      b.row.id,
      a.row.id,
    ]);
    expect(await t.services.apiKeys.list(staff.id)).toEqual([]);
  });
});
