/**
 * Test support for 2FA: an authenticator written independently of src/core/totp.ts
 * (node:crypto HMAC, RFC 4226 §5.3 by hand), a controllable clock, and enrolment.
 */
import { expect } from "vitest";
import { client } from "../helpers/http.js";

export { authenticatorCode } from "../helpers/authenticator.js";
import { authenticatorCode } from "../helpers/authenticator.js";

/** A clock the server reads through startTestServer({ now }); starts 5 s into a step. */
export function testClock() {
  const clock = {
    ms: 63_333_333 * 30_000 + 5_000,
    now: () => clock.ms,
    /** Moves to a later time step (30 s per step). */
    steps(n = 1) {
      clock.ms += n * 30_000;
    },
    advance(ms: number) {
      clock.ms += ms;
    },
  };
  return clock;
}

export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"));
}

/** Turns 2FA on over HTTP; returns the secret and the backup codes. */
export async function enableTwoFactor(base: string, accessToken: string, atMs: number) {
  const api = client(base);
  const setup = await api.post("/v1/auth/2fa/setup", undefined, { token: accessToken });
  expect(setup.status).toBe(200);
  const secret = setup.body.secret as string;
  const verify = await api.post(
    "/v1/auth/2fa/verify",
    { code: authenticatorCode(secret, atMs) },
    { token: accessToken },
  );
  expect(verify.status).toBe(200);
  return { secret, backupCodes: verify.body.backup_codes as string[] };
}
