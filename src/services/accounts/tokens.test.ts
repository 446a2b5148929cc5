import { importJWK, type CryptoKey } from "jose";
import { expect, it } from "vitest";
import { newSigningJwk } from "../../infra/secrets.js";
import { AccessTokens } from "./tokens.js";

async function tokensAt(clock: { now: number }) {
  const jwk = await newSigningJwk();
  const { d: _d, ...pub } = jwk;
  const key = {
    kid: jwk.kid!,
    alg: "EdDSA" as const,
    privateKey: (await importJWK(jwk, "EdDSA")) as CryptoKey,
    publicKey: (await importJWK(pub, "EdDSA")) as CryptoKey,
    publicJwk: pub,
  };
  return new AccessTokens(
    { keys: [key] },
    { issuer: "latchkey", audience: ["latchkey", "platform-api"], ttlMs: 3_600_000 },
    () => clock.now,
  );
}

it("remembers a verified token but still expires it on time", async () => {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const tokens = await tokensAt(clock);
  const token = await tokens.sign({
    userId: "usr_1",
    sessionId: "ses_1",
    amr: ["pwd"],
    authTime: clock.now,
  });
  expect(await tokens.verify(token)).toMatchObject({
    ok: true,
    claims: { sub: "usr_1", sid: "ses_1" },
  });
  expect(await tokens.verify(token)).toMatchObject({ ok: true });
  clock.now += 3_600_000;
  expect(await tokens.verify(token)).toEqual({ ok: false, code: "token_expired" });
  expect(await tokens.verify(token)).toEqual({ ok: false, code: "token_expired" });
});

it("never remembers a token that failed", async () => {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const tokens = await tokensAt(clock);
  const token = await tokens.sign({
    userId: "usr_1",
    sessionId: "ses_1",
    amr: ["pwd"],
    authTime: clock.now,
  });
  const [h, p, s] = token.split(".");
  // A character well inside the signature: the last one carries padding bits, so changing
  // it (or writing "AA" over characters that were already "AA") can leave the bytes as they were.
  const flipped = s![10] === "A" ? "B" : "A";
  const tampered = `${h}.${p}.${s!.slice(0, 10)}${flipped}${s!.slice(11)}`;
  expect(await tokens.verify(tampered)).toEqual({ ok: false, code: "token_invalid" });
  expect(await tokens.verify(tampered)).toEqual({ ok: false, code: "token_invalid" });
});

it("tells a key's exchanged token from a session's, and takes neither for the other", async () => {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const tokens = await tokensAt(clock);
  const keyToken = await tokens.signKeyToken({
    keyId: "key_1",
    ownerId: "usr_1",
    environment: "test",
    projectId: null,
    scopes: ["logs:read", "services:read"],
    ttlSeconds: 300,
  });
  // A session's check (the portal's cookie, sign-in flows) refuses it outright.
  expect(await tokens.verify(keyToken)).toEqual({ ok: false, code: "token_invalid" });
  expect(await tokens.check(keyToken)).toEqual({
    ok: true,
    kind: "key",
    claims: expect.objectContaining({
      sub: "usr_1",
      key_id: "key_1",
      environment: "test",
      project_id: null,
      scopes: ["logs:read", "services:read"],
      exp: clock.now / 1000 + 300,
    }),
  });
  const session = await tokens.sign({
    userId: "usr_1",
    sessionId: "ses_1",
    amr: ["pwd"],
    authTime: clock.now,
  });
  expect(await tokens.check(session)).toMatchObject({ ok: true, kind: "session" });
  clock.now += 300_000;
  expect(await tokens.check(keyToken)).toEqual({ ok: false, code: "token_expired" });
});

it("signs no key token for longer than 15 minutes", async () => {
  const tokens = await tokensAt({ now: Date.UTC(2026, 0, 1) });
  const input = {
    keyId: "key_1",
    ownerId: "usr_1",
    environment: "live" as const,
    projectId: null,
    scopes: ["logs:read"],
  };
  await expect(tokens.signKeyToken({ ...input, ttlSeconds: 901 })).rejects.toThrow(TypeError);
  await expect(tokens.signKeyToken({ ...input, ttlSeconds: 0 })).rejects.toThrow(TypeError);
});
