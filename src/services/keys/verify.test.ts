import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  expectCode,
  sessionCaller,
  signUp,
  testServices,
  type TestDeps,
} from "../../../test/store/deps.js";
import type { UserAccess } from "../accounts/users.js";
import type { CheckResult } from "./check.js";

const identity = (result: CheckResult) => result;
const request = { ip: "203.0.113.5", endpoint: "GET /v1/things" };

describe("KeyVerifier and KeyChecker", () => {
  let t: TestDeps;
  let owner: UserAccess;
  beforeEach(async () => {
    t = await testServices({ env: { LATCHKEY_RATE_LIMIT_LIVE: "3" } });
    await signUp(t, "staff@example.test");
    owner = await signUp(t, "ada@example.test");
  });
  afterEach(async () => t.close());

  const create = (input: Partial<Parameters<typeof t.services.apiKeys.create>[1]> = {}) =>
    t.services.apiKeys.create(sessionCaller(owner), {
      name: "k",
      scopes: ["keys:read"],
      ...input,
    });
  const verify = (
    key: string,
    extra: { scopes?: string[]; project_id?: string; ip?: string } = {},
  ) => t.services.keyVerifier.verify({ key, ...extra }, "usr_service", identity);

  it("answers valid with the effective scopes, and counts the use", async () => {
    const { key, row } = await create({ scopes: ["keys:read", "keys:write"] });
    const result = await verify(key, { scopes: ["keys:read"] });
    expect(result.code).toBe("valid");
    expect([...result.scopes]).toEqual(["keys:read", "keys:write"]);
    expect(result.ratelimit).toMatchObject({ limit: 3, remaining: 2 });
    await t.services.keyVerifier.usage.flush();
    expect((await t.deps.store.keys.byHash(row.key_hash))?.usage_count).toBe(1);
    const [activity] = await t.services.keyViews.activity(row.id, { limit: 1 });
    expect(activity).toMatchObject({ outcome: "valid", verified_by: "usr_service" });
  });

  it("answers each refusal with its code", async () => {
    expect((await verify("garbage")).code).toBe("key_invalid");
    const a = await create({ ip_allow: ["198.51.100.0/24"] });
    expect((await verify(a.key, { ip: "203.0.113.9" })).code).toBe("ip_not_allowed");
    expect((await verify(a.key, { ip: "198.51.100.9", scopes: ["keys:write"] })).code).toBe(
      "scope_insufficient",
    );
    const project = await t.services.projects.create(owner.id, "p", { actor: "s", ip: null });
    const bound = await create({ project_id: project.id });
    expect((await verify(bound.key, { project_id: "prj_other" })).code).toBe("project_mismatch");
    await t.services.apiKeys.revoke(sessionCaller(owner), bound.row.id);
    expect((await verify(bound.key)).code).toBe("key_revoked");
  });

  it("answers key_expired after expiry and rate_limited past the per-minute budget", async () => {
    const { key } = await create({ expires_in: "1h" });
    for (let i = 0; i < 3; i++) expect((await verify(key)).code).toBe("valid");
    const limited = await verify(key);
    expect(limited.code).toBe("rate_limited");
    expect(limited.ratelimit?.remaining).toBe(0);
    t.clock.now += 60_000;
    expect((await verify(key)).code).toBe("valid");
    t.clock.now += 3_600_000;
    expect((await verify(key)).code).toBe("key_expired");
  });

  it("authenticate gives a principal, or throws the refusal's code", async () => {
    const { key, row } = await create();
    const auth = await t.services.keyVerifier.authenticate(key, request);
    expect(auth.principal).toMatchObject({
      type: "api_key",
      key: { id: row.id, environment: "live", projectId: null },
    });
    expect(auth.principal.user.id).toBe(owner.id);
    await expectCode(t.services.keyVerifier.authenticate("lk_live_nope", request), "key_invalid");
    for (let i = 0; i < 2; i++) await t.services.keyVerifier.authenticate(key, request);
    const limited = await expectCode(
      t.services.keyVerifier.authenticate(key, request),
      "rate_limited",
    );
    expect(limited.retryAfter).toBeGreaterThanOrEqual(1);
    // A call that does not spend the budget still passes.
    await t.services.keyVerifier.authenticate(key, { ...request, spend: false });
  });

  it("a disabled owner's key is key_invalid at once (the bus drops the cached access)", async () => {
    const { key } = await create();
    expect((await verify(key)).code).toBe("valid");
    await t.services.users.update(
      owner.id,
      { disabled: true },
      { actor: "x", userId: "y", ip: null },
    );
    expect((await verify(key)).code).toBe("key_invalid");
  });
});

describe("KeyVerifier: a service's own credential", () => {
  let t: TestDeps;
  let owner: UserAccess;
  beforeEach(async () => {
    t = await testServices();
    await signUp(t, "staff@example.test");
    owner = await signUp(t, "svc@example.test");
  });
  afterEach(async () => t.close());

  const asService = { ...request, spend: false };

  it("is checked in full once, then answered from memory until the key or a user changes", async () => {
    const { key } = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "svc",
      scopes: ["keys:read"],
      expires_in: "1h",
    });
    const checker = (t.services.keyVerifier as unknown as { checker: { check: unknown } }).checker;
    const check = checker.check as (...args: unknown[]) => unknown;
    let full = 0;
    checker.check = (...args: unknown[]) => ((full += 1), check.apply(checker, args));

    const first = await t.services.keyVerifier.authenticate(key, asService);
    for (let i = 0; i < 50; i++) {
      const again = await t.services.keyVerifier.authenticate(key, asService);
      expect(again.principal).toBe(first.principal);
    }
    expect(full).toBe(1);
    // A call that spends the key's budget always goes the whole way.
    await t.services.keyVerifier.authenticate(key, request);
    expect(full).toBe(2);

    // Any user change (role, staff, disabled) forgets it: the owner is disabled here.
    await t.services.users.update(
      owner.id,
      { disabled: true },
      { actor: "t", userId: "t", ip: null },
    );
    await expectCode(t.services.keyVerifier.authenticate(key, asService), "key_invalid");
    await t.services.users.update(
      owner.id,
      { disabled: false },
      { actor: "t", userId: "t", ip: null },
    );
    await t.services.keyVerifier.authenticate(key, asService);

    // Expiry holds without a full check.
    t.clock.now += 3600_000;
    await expectCode(t.services.keyVerifier.authenticate(key, asService), "key_expired");
  });

  it("is forgotten the moment the key is revoked", async () => {
    const { key, row } = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "svc",
      scopes: ["keys:read"],
    });
    await t.services.keyVerifier.authenticate(key, asService);
    await t.services.keyVerifier.authenticate(key, asService);
    await t.services.apiKeys.revoke(sessionCaller(owner), row.id);
    await expectCode(t.services.keyVerifier.authenticate(key, asService), "key_revoked");
  });

  it("still refuses an address outside the key's allowlist", async () => {
    const { key } = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "svc",
      scopes: ["keys:read"],
      ip_allow: ["203.0.113.0/24"],
    });
    await t.services.keyVerifier.authenticate(key, asService);
    await expectCode(
      t.services.keyVerifier.authenticate(key, { ...asService, ip: "198.51.100.1" }),
      "ip_not_allowed",
    );
  });
});
