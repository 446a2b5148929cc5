import { Latchkey, LatchkeyApiError, createVerifier, type Verifier } from "latchkey";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { client } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { countingFetch, ownerWithKeys, UNLIMITED, within } from "./support.js";

/** Tokens exchanged for a key (issue 20 item 6), verified by the SDK offline against the JWKS. */
describeEachStore("exchanged tokens in the SDK", (store) => {
  let server: TestServer;
  const open: Verifier[] = [];

  beforeAll(async () => {
    server = await startTestServer({ store, env: UNLIMITED });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((v) => v.close()));
  });
  afterAll(async () => server?.close());

  function verifierFor(apiKey: string, options: Record<string, unknown> = {}) {
    const counting = countingFetch();
    // No skew allowance: the tests' clocks are one, and a token's `iat` is whole seconds.
    const verifier = createVerifier({
      baseUrl: server.url,
      apiKey,
      fetch: counting.fetch,
      clockToleranceSeconds: 0,
      ...options,
    });
    open.push(verifier);
    return { verifier, ...counting };
  }

  /** A live stream, then the next whole second: tokens issued from now on are trusted offline. */
  async function listening(verifier: Verifier) {
    await within(5000, async () => verifier.streaming);
    const live = Date.now();
    await within(1100, async () => Math.floor(Date.now() / 1000) * 1000 > live);
  }

  const exchange = (key: string, body: Parameters<Latchkey["keys"]["exchange"]>[0] = {}) =>
    new Latchkey({ baseUrl: server.url, apiKey: key }).keys.exchange(body);

  it("verifies an exchanged token offline, with its key, owner and narrowed scopes", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read", "services:write"], {
      environment: "test",
    });
    const { verifier, calls } = verifierFor(owner.serviceKey);
    await listening(verifier);
    const token = await exchange(key, { scopes: ["services:read"], expires_in: 60 });
    expect(token).toMatchObject({ key_id: id, owner_id: owner.userId, expires_in: 60 });

    const before = calls.length;
    const ok = await verifier.verify(token.access_token, { scopes: ["services:read"] });
    expect(ok).toMatchObject({
      valid: true,
      scopes: ["services:read"],
      principal: {
        type: "api_key",
        keyId: id,
        userId: owner.userId,
        environment: "test",
        sessionId: null,
        exchanged: true,
      },
    });
    const wider = await verifier.verify(token.access_token, { scopes: ["services:write"] });
    expect(wider).toMatchObject({ valid: false, code: "scope_insufficient", status: 403 });
    // Offline: nothing asked of Latchkey for either (the JWKS was fetched once, before).
    expect(calls.slice(before).filter((c) => !c.endsWith("/jwks.json"))).toEqual([]);
  });

  it("checks the token's issuer, audience, type and expiry", async () => {
    const owner = await ownerWithKeys(server.url);
    const { key } = await owner.key(["services:read"]);
    const token = (await exchange(key, { expires_in: 60 })).access_token;
    const elsewhere = verifierFor(owner.serviceKey, { audience: "another-service" }).verifier;
    expect(await elsewhere.verify(token)).toMatchObject({ valid: false, code: "token_invalid" });
    const forged = verifierFor(owner.serviceKey, { issuer: "someone-else" }).verifier;
    expect(await forged.verify(token)).toMatchObject({ valid: false, code: "token_invalid" });
    const later = verifierFor(owner.serviceKey, { now: () => Date.now() + 61_000 }).verifier;
    expect(await later.verify(token)).toMatchObject({ valid: false, code: "token_expired" });
  });

  it("refuses an exchanged token within a second of its key's revocation", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"]);
    const { verifier } = verifierFor(owner.serviceKey);
    await listening(verifier);
    const token = (await exchange(key)).access_token;
    expect((await verifier.verify(token)).valid).toBe(true);
    await owner.revoke(id);
    const took = await within(1000, async () => !(await verifier.verify(token)).valid);
    expect(took).toBeLessThan(1000);
    expect(await verifier.verify(token)).toMatchObject({ code: "key_revoked", status: 401 });
  });

  it("refuses an exchanged token within a second of its key being disabled, and admits it once enabled", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"]);
    const { verifier } = verifierFor(owner.serviceKey);
    await listening(verifier);
    const token = (await exchange(key)).access_token;
    expect((await verifier.verify(token)).valid).toBe(true);
    const patch = (enabled: boolean) =>
      client(server.url).patch(`/v1/api-keys/${id}`, { enabled }, { token: owner.accessToken });
    expect((await patch(false)).status).toBe(200);
    await within(1000, async () => !(await verifier.verify(token)).valid);
    expect(await verifier.verify(token)).toMatchObject({ code: "key_disabled" });
    expect((await patch(true)).status).toBe(200);
    await within(1000, async () => (await verifier.verify(token)).valid);
  });

  it("asks Latchkey once about a token issued before it was listening, and refuses one whose key it missed being revoked", async () => {
    const owner = await ownerWithKeys(server.url);
    const { key } = await owner.key(["services:read"]);
    const revoked = await owner.key(["services:read"]);
    const token = (await exchange(key)).access_token;
    const stale = (await exchange(revoked.key)).access_token;
    await owner.revoke(revoked.id);

    const { verifier, count } = verifierFor(owner.serviceKey);
    await within(5000, async () => verifier.streaming);
    expect((await verifier.verify(token)).valid).toBe(true);
    expect((await verifier.verify(token)).valid).toBe(true);
    expect(count("GET /v1/auth/whoami")).toBe(1);
    expect(await verifier.verify(stale)).toMatchObject({ valid: false, code: "key_revoked" });
  });

  it("exchanges through the client, refusing scopes the key lacks", async () => {
    const owner = await ownerWithKeys(server.url);
    const { key } = await owner.key(["services:read"]);
    const refused = await exchange(key, { scopes: ["services:write"] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LatchkeyApiError);
    expect(refused).toMatchObject({ code: "scope_not_grantable", status: 403 });
  });
});
