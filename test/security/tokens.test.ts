import { createHmac, randomBytes } from "node:crypto";
import { base64url, decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { checksum, formatKey } from "../../src/core/key-format.js";
import { client, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";

const HOUR = 3_600_000;

function encode(part: object): string {
  return base64url.encode(JSON.stringify(part));
}

/** A JWT signed with HMAC-SHA256 under `secret`, the classic algorithm-confusion forgery. */
function hs256(header: object, payload: object, secret: Buffer | string): string {
  const input = `${encode(header)}.${encode(payload)}`;
  const mac = createHmac("sha256", secret).update(input).digest();
  return `${input}.${base64url.encode(mac)}`;
}

describeEachStore("forged and stale credentials are refused", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let clock = Date.now();
  let user: Awaited<ReturnType<typeof signupAndLogin>>;
  let kid: string;
  let claims: Record<string, unknown>;

  beforeAll(async () => {
    server = await startTestServer({ store, now: () => clock });
    api = client(server.url);
    user = await signupAndLogin(server.url);
    kid = decodeProtectedHeader(user.accessToken).kid!;
    claims = decodeJwt(user.accessToken) as Record<string, unknown>;
  });
  afterAll(async () => server?.close());

  async function expectRefused(token: string, code: string) {
    const reply = await api.get("/v1/auth/whoami", { token });
    expect(reply.status).toBe(401);
    expect(reply.body.error.code).toBe(code);
    expect(typeof reply.body.error.request_id).toBe("string");
    expect(reply.headers.get("www-authenticate")).toMatch(/^Bearer /);
    return reply;
  }

  it("accepts the genuine token (the control case)", async () => {
    const reply = await api.get("/v1/auth/whoami", { token: user.accessToken });
    expect(reply.status).toBe(200);
    expect(reply.body.user_id).toBe(user.userId);
  });

  it('refuses alg "none" with the real kid', async () => {
    const unsigned = `${encode({ alg: "none", typ: "JWT", kid })}.${encode(claims)}.`;
    await expectRefused(unsigned, "token_invalid");
    const withJunk = `${encode({ alg: "none", typ: "JWT", kid })}.${encode(claims)}.AAAA`;
    await expectRefused(withJunk, "token_invalid");
  });

  it("refuses HS256 tokens keyed with the public JWK (algorithm confusion)", async () => {
    const jwks = (await api.get("/.well-known/jwks.json")).body.keys as Record<string, string>[];
    const pub = jwks.find((k) => k.kid === kid)!;
    const secrets = [
      Buffer.from(pub.x!, "base64url"),
      JSON.stringify(pub),
      pub.x!,
      JSON.stringify({ keys: jwks }),
    ];
    for (const secret of secrets) {
      await expectRefused(
        hs256({ alg: "HS256", typ: "JWT", kid }, claims, secret),
        "token_invalid",
      );
    }
  });

  it("refuses a token signed by another key, under an unknown kid or under the real kid", async () => {
    const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const sign = (header: { alg: string; kid: string }) =>
      new SignJWT({ sid: claims.sid, amr: ["pwd", "otp"] })
        .setProtectedHeader(header)
        .setIssuer("latchkey")
        .setSubject(user.userId)
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(privateKey);
    await expectRefused(await sign({ alg: "EdDSA", kid: "unknown-kid" }), "token_invalid");
    await expectRefused(await sign({ alg: "EdDSA", kid }), "token_invalid");
  });

  it("refuses a token with no kid, or a kid that is not a string", async () => {
    const key = server.services.deps.secrets.signing.keys[0]!;
    const noKid = await new SignJWT({ sid: claims.sid, amr: ["pwd"] })
      .setProtectedHeader({ alg: "EdDSA" })
      .setIssuer("latchkey")
      .setSubject(user.userId)
      .setIssuedAt(Math.floor(clock / 1000))
      .setExpirationTime(Math.floor(clock / 1000) + 3600)
      .sign(key.privateKey);
    await expectRefused(noKid, "token_invalid");
    const [, payload, signature] = user.accessToken.split(".");
    await expectRefused(
      `${encode({ alg: "EdDSA", kid: { $ne: null } })}.${payload}.${signature}`,
      "token_invalid",
    );
  });

  it("refuses a tampered payload: another subject, more factors, a later expiry", async () => {
    const other = await signupAndLogin(server.url);
    const [header, payload, signature] = user.accessToken.split(".");
    for (const change of [
      { sub: other.userId },
      { amr: ["pwd", "otp"] },
      { exp: (claims.exp as number) + 86_400 },
      { sid: decodeJwt(other.accessToken).sid },
    ]) {
      await expectRefused(
        `${header}.${encode({ ...claims, ...change })}.${signature}`,
        "token_invalid",
      );
    }
    // Flipping one bit of the signature is enough to be refused.
    const bytes = Buffer.from(signature!, "base64url");
    bytes[0]! ^= 1;
    await expectRefused(`${header}.${payload}.${base64url.encode(bytes)}`, "token_invalid");
  });

  it("refuses tokens signed with the real key but wrong claims (issuer, missing sid)", async () => {
    const key = server.services.deps.secrets.signing.keys[0]!;
    const base = (payload: Record<string, unknown>, issuer: string) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: "EdDSA", kid: key.kid })
        .setIssuer(issuer)
        .setSubject(user.userId)
        .setIssuedAt(Math.floor(clock / 1000))
        .setExpirationTime(Math.floor(clock / 1000) + 3600)
        .sign(key.privateKey);
    await expectRefused(await base({ sid: claims.sid, amr: ["pwd"] }, "evil"), "token_invalid");
    await expectRefused(await base({ amr: ["pwd"] }, "latchkey"), "token_invalid");
    await expectRefused(await base({ sid: "ses_nope", amr: ["pwd"] }, "latchkey"), "token_invalid");
  });

  it("issues RFC 9068 access tokens: typ at+jwt, iss, sub, aud, exp, iat, jti, client_id, auth_time", async () => {
    expect(decodeProtectedHeader(user.accessToken)).toMatchObject({ typ: "at+jwt", kid });
    expect(claims).toMatchObject({
      iss: "latchkey",
      sub: user.userId,
      aud: "latchkey",
      client_id: "latchkey",
      amr: ["pwd"],
    });
    expect(claims.exp).toBe((claims.iat as number) + 3600);
    expect(typeof claims.jti).toBe("string");
    expect(claims.auth_time).toBeLessThanOrEqual(claims.iat as number);
    const again = decodeJwt((await signupAndLogin(server.url)).accessToken);
    expect(again.jti).not.toBe(claims.jti);
  });

  it("refuses tokens signed with the real key but typed JWT, untyped, or for another audience", async () => {
    const key = server.services.deps.secrets.signing.keys[0]!;
    const forge = (header: Record<string, unknown>, change: Record<string, unknown> = {}) =>
      new SignJWT({ ...claims, ...change })
        .setProtectedHeader({ alg: "EdDSA", kid: key.kid, ...header })
        .sign(key.privateKey);
    // The control: the genuine header and claims, re-signed, are accepted.
    const control = await forge({ typ: "at+jwt" });
    expect((await api.get("/v1/auth/whoami", { token: control })).status).toBe(200);
    await expectRefused(await forge({ typ: "JWT" }), "token_invalid");
    await expectRefused(await forge({}), "token_invalid");
    await expectRefused(await forge({ typ: "at+jwt" }, { aud: "billing" }), "token_invalid");
    await expectRefused(await forge({ typ: "at+jwt" }, { aud: undefined }), "token_invalid");
    await expectRefused(await forge({ typ: "at+jwt" }, { auth_time: undefined }), "token_invalid");
    // A token from before the upgrade (typ JWT, no aud, no auth_time) is refused: clients refresh.
    const { aud: _aud, auth_time: _at, jti: _jti, client_id: _cid, ...legacy } = claims;
    await expectRefused(
      await new SignJWT(legacy)
        .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "JWT" })
        .sign(key.privateKey),
      "token_invalid",
    );
  });

  it("answers token_expired once the hour has passed, and token_invalid after logout", async () => {
    const fresh = await signupAndLogin(server.url);
    const start = clock;
    clock = start + HOUR - 1_000;
    expect((await api.get("/v1/auth/whoami", { token: fresh.accessToken })).status).toBe(200);
    clock = start + HOUR + 1_000;
    await expectRefused(fresh.accessToken, "token_expired");
    clock = start;

    const again = await signupAndLogin(server.url);
    expect(
      (await api.post("/v1/auth/logout", undefined, { token: again.accessToken })).status,
    ).toBe(204);
    await expectRefused(again.accessToken, "token_invalid");
  });

  it("refuses malformed Authorization headers with unauthenticated", async () => {
    for (const header of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token abc", "bearer"]) {
      const reply = await api.get("/v1/auth/whoami", { headers: { authorization: header } });
      expect(reply.status).toBe(401);
      expect(reply.body.error.code).toBe("unauthenticated");
    }
    const none = await api.get("/v1/auth/whoami");
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("unauthenticated");
  });

  it("refuses an expired key with key_expired and a revoked one with key_revoked", async () => {
    const owner = await signupAndLogin(server.url);
    const create = (name: string, extra: object = {}) =>
      api.post(
        "/v1/api-keys",
        { name, scopes: ["services:read"], ...extra },
        { token: owner.accessToken },
      );
    const shortLived = await create("short", { expires_in: "1h" });
    const revoked = await create("revoked");
    expect([shortLived.status, revoked.status]).toEqual([201, 201]);
    expect((await api.get("/v1/auth/whoami", { token: shortLived.body.key })).status).toBe(200);
    expect(
      (await api.delete(`/v1/api-keys/${revoked.body.id}`, { token: owner.accessToken })).status,
    ).toBe(200);
    await expectRefused(revoked.body.key, "key_revoked");
    const start = clock;
    clock = start + HOUR + 1_000;
    try {
      await expectRefused(shortLived.body.key, "key_expired");
    } finally {
      clock = start;
    }
  });

  it("refuses API keys with a bad checksum, another brand or another environment: key_invalid", async () => {
    const brand = server.config.keyBrand;
    const genuine = formatKey(brand, "live", randomBytes(32));
    const last = genuine.at(-1) === "0" ? "1" : "0";
    const body = genuine.slice(`${brand}_live_`.length, -6);
    const forged = [
      genuine.slice(0, -1) + last, // bad checksum
      formatKey("xk", "live", randomBytes(32)), // another brand, valid checksum
      (() => {
        const head = `${brand}_prod_${body}`; // another environment, valid checksum
        return head + checksum(head);
      })(),
      genuine, // well-formed, never issued
      formatKey(brand, "test", randomBytes(32)),
      `${brand}_live_${"0".repeat(49)}`,
      `${brand}_live_'OR'1'='1'--`,
    ];
    for (const key of forged) {
      const reply = await api.get("/v1/auth/whoami", { token: key });
      expect(reply.status, key).toBe(401);
      expect(reply.body.error.code, key).toBe("key_invalid");
      expect(JSON.stringify(reply.body)).not.toContain(key);
    }
  });
});

describeEachStore("access tokens for several platform services", (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      store,
      env: { LATCHKEY_TOKEN_AUDIENCE: "platform-api, billing-api" },
    });
  });
  afterAll(async () => server?.close());

  it("carries every configured audience and accepts a token whose aud holds one of them", async () => {
    const user = await signupAndLogin(server.url);
    expect(decodeJwt(user.accessToken).aud).toEqual(["platform-api", "billing-api"]);
    const key = server.services.deps.secrets.signing.keys[0]!;
    const api = client(server.url);
    const signed = (aud: string | string[]) =>
      new SignJWT({ ...decodeJwt(user.accessToken), aud })
        .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "at+jwt" })
        .sign(key.privateKey);
    expect((await api.get("/v1/auth/whoami", { token: await signed("billing-api") })).status).toBe(
      200,
    );
    const foreign = await api.get("/v1/auth/whoami", { token: await signed("latchkey") });
    expect([foreign.status, foreign.body.error.code]).toEqual([401, "token_invalid"]);
  });
});
