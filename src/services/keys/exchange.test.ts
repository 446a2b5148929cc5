import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  expectCode,
  sessionCaller,
  signUp,
  testServices,
  type TestDeps,
} from "../../../test/store/deps.js";
import type { UserAccess } from "../accounts/users.js";
import type { Principal } from "../principal.js";

const request = { ip: "203.0.113.5", endpoint: "POST /v1/keys/exchange" };

describe("KeyExchange", () => {
  let t: TestDeps;
  let owner: UserAccess;
  beforeEach(async () => {
    t = await testServices();
    await signUp(t, "staff@example.test");
    owner = await signUp(t, "ada@example.test");
  });
  afterEach(async () => t.close());

  /** A key, as the auth hook would make it a principal. */
  async function keyPrincipal(input: { scopes: string[]; expires_in?: string }) {
    const created = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "k",
      environment: "test",
      ...input,
    });
    const { principal } = await t.services.keyVerifier.authenticate(created.key, request);
    return { principal, id: created.row.id };
  }

  /** What an exchanged token is on Latchkey's own routes. */
  async function tokenPrincipal(token: string): Promise<Principal> {
    const check = await t.deps.tokens.check(token);
    if (!check.ok || check.kind !== "key") throw new Error(`not a key token: ${check.ok}`);
    return t.services.keyExchange.principal(check.claims);
  }

  it("narrows to concrete scopes within the key's, and refuses any beyond them", async () => {
    const { principal } = await keyPrincipal({ scopes: ["services:*", "logs:read"] });
    const all = await t.services.keyExchange.exchange(principal, {});
    expect(all.scopes).toEqual(["logs:read", "services:exec", "services:read", "services:write"]);
    const some = await t.services.keyExchange.exchange(principal, { scopes: ["services:*"] });
    expect(some.scopes).toEqual(["services:exec", "services:read", "services:write"]);
    const error = await expectCode(
      t.services.keyExchange.exchange(principal, { scopes: ["logs:read", "billing:read"] }),
      "scope_not_grantable",
    );
    expect(error.extras.details).toEqual([
      { field: "scopes.1", message: "not the key's: billing:read" },
    ]);
  });

  it("refuses a session and an exchanged token as the credential to exchange", async () => {
    const session: Principal = {
      type: "session",
      user: owner,
      sessionId: "ses_1",
      amr: ["pwd"],
      key: null,
      scopes: owner.access,
    };
    await expectCode(t.services.keyExchange.exchange(session, {}), "forbidden");
    const { principal } = await keyPrincipal({ scopes: ["logs:read"] });
    const { token } = await t.services.keyExchange.exchange(principal, {});
    await expectCode(t.services.keyExchange.exchange(await tokenPrincipal(token), {}), "forbidden");
  });

  it("acts on Latchkey's routes while its key is usable, and says why once it is not", async () => {
    const { principal, id } = await keyPrincipal({ scopes: ["logs:read"], expires_in: "1h" });
    const { token, expiresIn } = await t.services.keyExchange.exchange(principal, {
      expires_in: 900,
    });
    expect(expiresIn).toBe(900);
    expect(await tokenPrincipal(token)).toMatchObject({
      type: "api_key",
      exchanged: true,
      key: { id, environment: "test", projectId: null },
      sessionId: null,
    });

    const caller = sessionCaller(owner);
    await t.services.apiKeys.edit(caller, id, { enabled: false });
    await expectCode(tokenPrincipal(token), "key_disabled");
    await t.services.apiKeys.edit(caller, id, { enabled: true });
    expect([...(await tokenPrincipal(token)).scopes]).toEqual(["logs:read"]);
    await t.services.apiKeys.revoke(caller, id);
    await expectCode(tokenPrincipal(token), "key_revoked");
  });

  it("ends no later than its key, even when asked for longer", async () => {
    const { principal, id } = await keyPrincipal({ scopes: ["logs:read"], expires_in: "24h" });
    t.clock.now += 24 * 3_600_000 - 120_000; // two minutes left
    const { token, expiresIn } = await t.services.keyExchange.exchange(principal, {
      expires_in: 900,
    });
    expect(expiresIn).toBe(120);
    t.clock.now += 119_000;
    expect((await tokenPrincipal(token)).key?.id).toBe(id);
    t.clock.now += 1_000;
    expect(await t.deps.tokens.check(token)).toEqual({ ok: false, code: "token_expired" });
  });

  it("narrows a token's scopes on Latchkey's routes when its key is narrowed", async () => {
    const { principal, id } = await keyPrincipal({ scopes: ["logs:read", "services:read"] });
    const { token } = await t.services.keyExchange.exchange(principal, {});
    await t.services.apiKeys.edit(sessionCaller(owner), id, { scopes: ["services:read"] });
    expect([...(await tokenPrincipal(token)).scopes]).toEqual(["services:read"]);
  });
});
