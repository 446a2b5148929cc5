import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { createVerifier, type Verifier } from "latchkey";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startServer } from "../../src/main.js";
import { client, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { countingFetch, ownerWithKeys, UNLIMITED, within } from "./support.js";

describeEachStore("verifier against a real server", (store) => {
  let server: TestServer;
  const open: Verifier[] = [];

  function verifierFor(apiKey: string, options: Record<string, unknown> = {}) {
    const counting = countingFetch();
    const verifier = createVerifier({
      baseUrl: server.url,
      apiKey,
      fetch: counting.fetch,
      ...options,
    });
    open.push(verifier);
    return { verifier, ...counting };
  }

  beforeAll(async () => {
    server = await startTestServer({ store, env: UNLIMITED });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((v) => v.close()));
  });
  afterAll(async () => server?.close());

  it("admits a key with the scopes, reuses the answer, and checks other scopes locally", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"], { environment: "test" });
    const { verifier, count } = verifierFor(owner.serviceKey);
    await within(5000, async () => verifier.streaming);

    const first = await verifier.verify(key, { scopes: ["services:read"], endpoint: "GET /x" });
    expect(first).toMatchObject({
      valid: true,
      scopes: ["services:read"],
      principal: { type: "api_key", keyId: id, userId: owner.userId, environment: "test" },
    });
    expect((await verifier.verify(key, { scopes: ["services:read"] })).valid).toBe(true);
    const denied = await verifier.verify(key, { scopes: ["services:write"] });
    expect(denied).toMatchObject({
      valid: false,
      code: "scope_insufficient",
      status: 403,
      required: ["services:write"],
    });
    expect(count("POST /v1/keys/verify")).toBe(1);
  });

  it("refuses no credential, noise and unknown keys without caching refusals", async () => {
    const owner = await ownerWithKeys(server.url);
    const { verifier, count } = verifierFor(owner.serviceKey);
    expect(await verifier.verify(undefined)).toMatchObject({
      code: "unauthenticated",
      status: 401,
    });
    expect(await verifier.verify("lk_live_garbage")).toMatchObject({ code: "key_invalid" });
    expect(count("POST /v1/keys/verify")).toBe(0);
    const { key } = await owner.key(["services:read"]);
    const unknown = key.slice(0, 8) + (key[8] === "A" ? "B" : "A") + key.slice(9, -6);
    const { checksum } = await import("../../src/core/key-format.js");
    const forged = unknown + checksum(unknown);
    expect(await verifier.verify(forged)).toMatchObject({ code: "key_invalid", status: 401 });
    expect(await verifier.verify(forged)).toMatchObject({ code: "key_invalid" });
    expect(count("POST /v1/keys/verify")).toBe(2);
  });

  it("drops a cached key within a second of its revocation", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"]);
    const { verifier, count } = verifierFor(owner.serviceKey, { cacheTtlMs: 60_000 });
    await within(5000, async () => verifier.streaming);
    expect((await verifier.verify(key, { scopes: ["services:read"] })).valid).toBe(true);
    expect((await verifier.verify(key, { scopes: ["services:read"] })).valid).toBe(true);
    expect(count("POST /v1/keys/verify")).toBe(1);

    await owner.revoke(id);
    const took = await within(1000, async () => !(await verifier.verify(key)).valid);
    expect(took).toBeLessThan(1000);
    expect(await verifier.verify(key)).toMatchObject({ code: "key_revoked", status: 401 });
  });

  it("refuses a cached key within a second of its owner disabling it, and admits it once enabled", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"]);
    const { verifier } = verifierFor(owner.serviceKey, { cacheTtlMs: 60_000 });
    await within(5000, async () => verifier.streaming);
    expect((await verifier.verify(key)).valid).toBe(true);
    const api = client(server.url);
    const patch = (enabled: boolean) =>
      api.patch(`/v1/api-keys/${id}`, { enabled }, { token: owner.accessToken });
    expect((await patch(false)).status).toBe(200);
    const took = await within(1000, async () => !(await verifier.verify(key)).valid);
    expect(took).toBeLessThan(1000);
    expect(await verifier.verify(key)).toMatchObject({ code: "key_disabled", status: 401 });
    expect((await patch(true)).status).toBe(200);
    expect((await verifier.verify(key)).valid).toBe(true); // refusals are never cached
  });

  it("gives the key's metadata with the principal, and the new one once the owner changes it", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"], {
      meta: { customer: "cus_9", seats: 3 },
    });
    const { verifier } = verifierFor(owner.serviceKey, { cacheTtlMs: 60_000 });
    await within(5000, async () => verifier.streaming);
    const first = await verifier.verify(key, { scopes: ["services:read"] });
    expect(first).toMatchObject({
      valid: true,
      principal: { meta: { customer: "cus_9", seats: 3 } },
    });
    const patched = await client(server.url).patch(
      `/v1/api-keys/${id}`,
      { meta: { customer: "cus_9", seats: 10 } },
      { token: owner.accessToken },
    );
    expect(patched.status).toBe(200);
    await within(1000, async () => {
      const now = await verifier.verify(key, { scopes: ["services:read"] });
      return now.valid && now.principal.meta?.seats === 10;
    });
  });

  it("spends a key's credits on every call, never from its cache, and says what is left", async () => {
    const owner = await ownerWithKeys(server.url);
    const { key } = await owner.key(["services:read"], { remaining: 5 });
    const { verifier, count } = verifierFor(owner.serviceKey, { cacheTtlMs: 60_000 });
    await within(5000, async () => verifier.streaming);
    expect(await verifier.verify(key, { cost: 2 })).toMatchObject({
      valid: true,
      remaining: 3,
      ratelimits: [],
    });
    expect(await verifier.verify(key, { cost: 3 })).toMatchObject({ valid: true, remaining: 0 });
    expect(await verifier.verify(key)).toMatchObject({
      valid: false,
      code: "usage_exceeded",
      status: 429,
      remaining: 0,
    });
    expect(count("POST /v1/keys/verify")).toBe(3);
    // A key without credits is cached as before, and says so.
    const plain = await owner.key(["services:read"]);
    expect(await verifier.verify(plain.key)).toMatchObject({ valid: true, remaining: null });
  });

  it("spends named rate limits with the costs it is given, and reports each in the verdict", async () => {
    const owner = await ownerWithKeys(server.url);
    const { key } = await owner.key(["services:read"], {
      ratelimits: [{ name: "search", limit: 5, window: "1h" }],
    });
    const { verifier, count } = verifierFor(owner.serviceKey, { cacheTtlMs: 60_000 });
    const first = await verifier.verify(key, { ratelimits: [{ name: "search", cost: 3 }] });
    expect(first).toMatchObject({
      valid: true,
      remaining: null,
      ratelimits: [{ name: "search", scope: "key", limit: 5, remaining: 2 }],
    });
    const over = await verifier.verify(key, { ratelimits: [{ name: "search", cost: 3 }] });
    expect(over).toMatchObject({
      valid: false,
      code: "rate_limited",
      status: 429,
      ratelimits: [{ name: "search", remaining: 2 }],
    });
    expect(count("POST /v1/keys/verify")).toBe(2);
  });

  it("drops a cached key when its scopes are narrowed", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read", "services:write"]);
    const { verifier } = verifierFor(owner.serviceKey, { cacheTtlMs: 60_000 });
    await within(5000, async () => verifier.streaming);
    expect((await verifier.verify(key, { scopes: ["services:write"] })).valid).toBe(true);
    const patched = await client(server.url).patch(
      `/v1/api-keys/${id}`,
      { scopes: ["services:read"] },
      { token: owner.accessToken },
    );
    expect(patched.status).toBe(200);
    await within(
      1000,
      async () => !(await verifier.verify(key, { scopes: ["services:write"] })).valid,
    );
    expect((await verifier.verify(key, { scopes: ["services:read"] })).valid).toBe(true);
  });

  it("keeps answers at most one second while the revocation stream is off", async () => {
    const owner = await ownerWithKeys(server.url);
    const { key } = await owner.key(["services:read"]);
    let now = Date.now();
    const { verifier, count } = verifierFor(owner.serviceKey, {
      revocations: false,
      cacheTtlMs: 60_000,
      now: () => now,
    });
    expect((await verifier.verify(key)).valid).toBe(true);
    now += 900;
    expect((await verifier.verify(key)).valid).toBe(true);
    expect(count("POST /v1/keys/verify")).toBe(1);
    now += 200;
    expect((await verifier.verify(key)).valid).toBe(true);
    expect(count("POST /v1/keys/verify")).toBe(2);
  });

  it("checks project binding and address through Latchkey", async () => {
    const owner = await ownerWithKeys(server.url);
    const project = await client(server.url).post(
      "/v1/projects",
      { name: "shop" },
      { token: owner.accessToken },
    );
    const bound = await owner.key(["services:read"], {
      project_id: project.body.id,
      ip_allow: ["10.0.0.0/8"],
    });
    const { verifier } = verifierFor(owner.serviceKey);
    expect(await verifier.verify(bound.key, { ip: "192.168.1.1" })).toMatchObject({
      code: "ip_not_allowed",
      status: 403,
    });
    expect(
      await verifier.verify(bound.key, { ip: "::ffff:10.1.2.3", projectId: project.body.id }),
    ).toMatchObject({ valid: true, principal: { projectId: project.body.id } });
    expect(
      await verifier.verify(bound.key, { ip: "10.1.2.3", projectId: "prj_other" }),
    ).toMatchObject({ code: "project_mismatch", status: 403 });
  });

  it("verifies access tokens offline and asks Latchkey once per session for its scopes", async () => {
    const owner = await ownerWithKeys(server.url);
    const { verifier, count } = verifierFor(owner.serviceKey);
    await within(5000, async () => verifier.streaming);
    const first = await verifier.verify(owner.accessToken, { scopes: ["services:read"] });
    expect(first).toMatchObject({
      valid: true,
      principal: { type: "session", userId: owner.userId, keyId: null, amr: ["pwd"] },
    });
    expect((await verifier.verify(owner.accessToken, { scopes: ["services:write"] })).valid).toBe(
      true,
    );
    expect(count("GET /v1/auth/whoami")).toBe(1);
    expect(count("GET /.well-known/jwks.json")).toBe(1);

    const tampered = owner.accessToken.slice(0, -4) + "AAAA";
    expect(await verifier.verify(tampered)).toMatchObject({ code: "token_invalid", status: 401 });
    expect(count("GET /v1/auth/whoami")).toBe(1);

    const logout = await client(server.url).post("/v1/auth/logout", undefined, {
      token: owner.accessToken,
    });
    expect(logout.status).toBe(204);
    await within(1000, async () => !(await verifier.verify(owner.accessToken)).valid);
    expect(await verifier.verify(owner.accessToken)).toMatchObject({ code: "token_invalid" });
  });

  it("refuses tokens signed with Latchkey's real key but typed JWT or for another audience", async () => {
    const owner = await ownerWithKeys(server.url);
    const { verifier, count } = verifierFor(owner.serviceKey);
    const key = server.services.deps.secrets.signing.keys[0]!;
    const genuine = decodeJwt(owner.accessToken);
    const forge = (typ: string | undefined, aud: string | string[]) =>
      new SignJWT({ ...genuine, aud })
        .setProtectedHeader(
          typ ? { alg: key.alg, kid: key.kid, typ } : { alg: key.alg, kid: key.kid },
        )
        .sign(key.privateKey);
    // The control: the same claims under the genuine header and audience are admitted.
    expect((await verifier.verify(await forge("at+jwt", "latchkey"))).valid).toBe(true);
    for (const token of [
      await forge("JWT", "latchkey"),
      await forge(undefined, "latchkey"),
      await forge("at+jwt", "another-service"),
      await forge("at+jwt", ["another-service", "billing"]),
    ]) {
      expect(await verifier.verify(token)).toMatchObject({ code: "token_invalid", status: 401 });
    }
    // Refused offline: only the control asked Latchkey who the session is.
    expect(count("GET /v1/auth/whoami")).toBe(1);
  });

  it("allows a few seconds of clock skew on exp, not more", async () => {
    const user = await signupAndLogin(server.url);
    const owner = await ownerWithKeys(server.url);
    const exp = decodeJwt(user.accessToken).exp! * 1000;
    const skewed = (ms: number) => verifierFor(owner.serviceKey, { now: () => exp + ms }).verifier;
    expect((await skewed(3_000).verify(user.accessToken)).valid).toBe(true);
    expect(await skewed(10_000).verify(user.accessToken)).toMatchObject({ code: "token_expired" });
    const strict = verifierFor(owner.serviceKey, {
      now: () => exp + 3_000,
      clockToleranceSeconds: 0,
    }).verifier;
    expect(await strict.verify(user.accessToken)).toMatchObject({ code: "token_expired" });
  });

  it("refuses an expired access token without asking Latchkey", async () => {
    const user = await signupAndLogin(server.url);
    const owner = await ownerWithKeys(server.url);
    const { verifier, count } = verifierFor(owner.serviceKey, {
      now: () => Date.now() + 2 * 3600_000,
    });
    expect(await verifier.verify(user.accessToken)).toMatchObject({
      code: "token_expired",
      status: 401,
    });
    expect(count("GET /v1/auth/whoami")).toBe(0);
  });

  it("answers 503 internal when Latchkey cannot be reached", async () => {
    const verifier = createVerifier({
      baseUrl: "http://127.0.0.1:9",
      apiKey: "unused",
      revocations: false,
      timeoutMs: 1000,
    });
    open.push(verifier);
    const owner = await ownerWithKeys(server.url);
    const { key } = await owner.key(["services:read"]);
    expect(await verifier.verify(key)).toMatchObject({
      valid: false,
      code: "internal",
      status: 503,
    });
  });
});

describe("verifier and a rotated signing key", () => {
  let jwksServer: Server;
  let base: string;
  let keys: JWK[] = [];

  async function signingKey(kid: string): Promise<{ key: CryptoKey; jwk: JWK }> {
    const pair = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    return {
      key: pair.privateKey,
      jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: "EdDSA" },
    };
  }

  function token(key: CryptoKey, kid: string, audience = "latchkey") {
    return new SignJWT({ sid: "ses_1", amr: ["pwd"], auth_time: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: "EdDSA", kid, typ: "at+jwt" })
      .setIssuer("latchkey")
      .setAudience(audience)
      .setSubject("usr_1")
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(key);
  }

  beforeAll(async () => {
    jwksServer = createServer((req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.url === "/.well-known/jwks.json") res.end(JSON.stringify({ keys }));
      else if (req.url === "/v1/auth/whoami")
        res.end(JSON.stringify({ user_id: "usr_1", scopes: ["services:read"] }));
      else res.writeHead(404).end("{}");
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));

  it("refetches the JWKS when a token names an unknown kid", async () => {
    const first = await signingKey("k1");
    keys = [first.jwk];
    const counting = countingFetch();
    const verifier = createVerifier({
      baseUrl: base,
      apiKey: "unused",
      revocations: false,
      jwksCooldownMs: 0,
      fetch: counting.fetch,
    });
    try {
      expect((await verifier.verify(await token(first.key, "k1"))).valid).toBe(true);
      const second = await signingKey("k2");
      keys = [second.jwk, first.jwk];
      expect(await verifier.verify(await token(second.key, "k2"))).toMatchObject({
        valid: true,
        principal: { userId: "usr_1", sessionId: "ses_1" },
      });
      expect(counting.count("GET /.well-known/jwks.json")).toBe(2);
      const wrongIssuer = await new SignJWT({ sid: "ses_2", auth_time: 1 })
        .setProtectedHeader({ alg: "EdDSA", kid: "k2", typ: "at+jwt" })
        .setIssuer("someone-else")
        .setAudience("latchkey")
        .setSubject("usr_1")
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(second.key);
      expect(await verifier.verify(wrongIssuer)).toMatchObject({ code: "token_invalid" });
    } finally {
      await verifier.close();
    }
  });

  it("refetches the key set for unknown kids at most once a minute by default", async () => {
    // jose's remote key set reads Date.now(): only the date is faked, timers stay real.
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.UTC(2026, 5, 1);
    vi.setSystemTime(start);
    const first = await signingKey("k1");
    keys = [first.jwk];
    const counting = countingFetch();
    const verifier = createVerifier({
      baseUrl: base,
      apiKey: "unused",
      revocations: false,
      fetch: counting.fetch,
    });
    const forged = async (i: number) => {
      const stranger = await signingKey(`forged-${i}`);
      return verifier.verify(await token(stranger.key, `forged-${i}`));
    };
    try {
      expect((await verifier.verify(await token(first.key, "k1"))).valid).toBe(true);
      // A flood of tokens under kids the key set does not hold: no refetch within the minute.
      for (let i = 0; i < 10; i += 1)
        expect(await forged(i)).toMatchObject({ code: "token_invalid" });
      vi.setSystemTime(start + 30_000);
      expect(await forged(10)).toMatchObject({ code: "token_invalid" });
      expect(counting.count("GET /.well-known/jwks.json")).toBe(1);
      // A minute on, an unknown kid is looked up again (once), so a rotated key is found.
      vi.setSystemTime(start + 61_000);
      const rotated = await signingKey("k2");
      keys = [rotated.jwk, first.jwk];
      expect((await verifier.verify(await token(rotated.key, "k2"))).valid).toBe(true);
      expect(await forged(11)).toMatchObject({ code: "token_invalid" });
      expect(counting.count("GET /.well-known/jwks.json")).toBe(2);
    } finally {
      vi.useRealTimers();
      await verifier.close();
    }
  });

  it("accepts a token for any audience it is configured with, and only those", async () => {
    const only = await signingKey("k1");
    keys = [only.jwk];
    const verifier = createVerifier({
      baseUrl: base,
      apiKey: "unused",
      revocations: false,
      audience: ["platform-api", "billing"],
    });
    try {
      expect((await verifier.verify(await token(only.key, "k1", "billing"))).valid).toBe(true);
      expect(await verifier.verify(await token(only.key, "k1", "latchkey"))).toMatchObject({
        code: "token_invalid",
      });
    } finally {
      await verifier.close();
    }
  });
});

describe("verifier when Latchkey restarts", () => {
  it("forgets cached answers when the stream drops, and follows it again once Latchkey is back", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const first = await startTestServer({ env: { ...UNLIMITED, PORT: String(port) } });
    let second: Awaited<ReturnType<typeof startServer>> | undefined;
    const owner = await ownerWithKeys(first.url);
    const { key } = await owner.key(["services:read"]);
    const verifier = createVerifier({
      baseUrl: first.url,
      apiKey: owner.serviceKey,
      cacheTtlMs: 60_000,
      timeoutMs: 1000,
    });
    try {
      await within(5000, async () => verifier.streaming);
      expect((await verifier.verify(key)).valid).toBe(true);

      await first.stop();
      await within(2000, async () => !verifier.streaming);
      // Fail closed: without the stream a cached answer could outlive a revocation.
      expect(await verifier.verify(key)).toMatchObject({ code: "internal", status: 503 });

      second = await startServer(first.config);
      await within(15_000, async () => verifier.streaming);
      expect((await verifier.verify(key)).valid).toBe(true);
    } finally {
      await verifier.close();
      await second?.stop();
      await first.close();
    }
  });
});
