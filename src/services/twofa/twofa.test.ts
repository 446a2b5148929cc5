import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  expectCode,
  META,
  PASSWORD,
  signUp,
  testServices,
  type TestDeps,
} from "../../../test/store/deps.js";
import { decodeBase32, generateTotp } from "../../core/totp.js";
import type { UserAccess } from "../accounts/users.js";
import { MAX_FAILED_CODES } from "./lockout.js";

describe("TwoFactor", () => {
  let t: TestDeps;
  let user: UserAccess;
  beforeEach(async () => {
    t = await testServices();
    user = await signUp(t, "ada@example.test");
  });
  afterEach(async () => t.close());

  const code = (secret: Uint8Array) => generateTotp(secret, t.clock.now);
  const step = () => (t.clock.now += 30_000);

  async function enable(): Promise<{ secret: Uint8Array; backupCodes: string[] }> {
    const setup = await t.services.twofa.setup(user);
    const secret = decodeBase32(setup.secret)!;
    const backupCodes = await t.services.twofa.verify(user.id, code(secret), META, "session:s");
    return { secret, backupCodes };
  }

  /** Re-seals the user's stored secret as `plaintext` right after the next read of it. */
  function resealAfterNextRead(plaintext: string): void {
    const twofa = t.deps.store.twofa;
    const read = twofa.factor.bind(twofa);
    let pending: string | null = plaintext;
    twofa.factor = async (userId) => {
      const row = await read(userId);
      if (row && pending !== null) {
        const to = t.deps.box.seal(pending, `totp:${userId}`);
        pending = null;
        await t.deps.store.sealed.replace("totp_secret", [
          { id: userId, from: row.secret_ciphertext, to },
        ]);
      }
      return row;
    };
  }

  it("enables a pending setup re-sealed meanwhile (a master-key rotation), not a replaced one", async () => {
    const setup = await t.services.twofa.setup(user);
    resealAfterNextRead(setup.secret);
    const codes = await t.services.twofa.verify(
      user.id,
      code(decodeBase32(setup.secret)!),
      META,
      "session:s",
    );
    expect(codes).toHaveLength(10);
    expect((await t.services.twofa.status(user.id)).enabled).toBe(true);

    const other = await signUp(t, "bob@example.test");
    const first = await t.services.twofa.setup(other);
    // Replaced meanwhile by another secret, not the same one re-sealed: the old code must not enable it.
    resealAfterNextRead("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    await expectCode(
      t.services.twofa.verify(other.id, code(decodeBase32(first.secret)!), META, "session:s"),
      "conflict",
    );
  });

  it("sets up a sealed secret, enables with a first code, and reports its status", async () => {
    const setup = await t.services.twofa.setup(user);
    expect(setup.otpauthUrl).toContain("otpauth://totp/");
    expect(setup.qrSvg).toContain("<svg");
    const stored = await t.deps.store.twofa.factor(user.id);
    expect(stored?.secret_ciphertext).not.toContain(setup.secret);
    expect(await t.services.twofa.status(user.id)).toEqual({
      enabled: false,
      enabledAt: null,
      pending: true,
      backupCodesRemaining: 0,
    });
    await expectCode(t.services.twofa.verify(user.id, "000000", META, "s"), "invalid_mfa_code");
    const codes = await t.services.twofa.verify(
      user.id,
      code(decodeBase32(setup.secret)!),
      META,
      "session:s",
    );
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    expect(await t.services.twofa.status(user.id)).toEqual({
      enabled: true,
      enabledAt: t.clock.now,
      pending: false,
      backupCodesRemaining: 10,
    });
    await expectCode(t.services.twofa.setup(user), "conflict");
  });

  it("refuses to verify without a pending setup (conflict)", async () => {
    await expectCode(t.services.twofa.verify(user.id, "123456", META, "s"), "conflict");
  });

  it("completes a login with the MFA token and a code, once; a TOTP step works once", async () => {
    const { secret } = await enable();
    const required = await expectCode(
      t.services.accounts.login({ email: user.email, password: PASSWORD }, META),
      "mfa_required",
    );
    const mfaToken = required.extras.mfa_token as string;
    step();
    const current = code(secret);
    const pair = await t.services.twofa.completeLogin(mfaToken, { code: current }, META);
    expect(pair.accessToken).toBeTruthy();
    await expectCode(
      t.services.twofa.completeLogin(mfaToken, { code: current }, META),
      "token_invalid",
    );
    await expectCode(
      t.services.twofa.completeLogin("mfa_unknown", { code: current }, META),
      "token_invalid",
    );
    await expectCode(
      t.services.twofa.completeLogin(mfaToken, { code: "1", backupCode: "2" }, META),
      "invalid_request",
    );
  });

  it("expires an MFA token after five minutes", async () => {
    await enable();
    const required = await expectCode(
      t.services.accounts.login({ email: user.email, password: PASSWORD }, META),
      "mfa_required",
    );
    t.clock.now += 5 * 60_000;
    await expectCode(
      t.services.twofa.completeLogin(required.extras.mfa_token as string, { code: "1" }, META),
      "token_expired",
    );
  });

  it("accepts each backup code once; regenerating replaces the whole set", async () => {
    const { secret, backupCodes } = await enable();
    await t.services.twofa.verifyLoginCode(user.id, { backupCode: backupCodes[0]! }, META);
    await expectCode(
      t.services.twofa.verifyLoginCode(user.id, { backupCode: backupCodes[0]! }, META),
      "invalid_mfa_code",
    );
    expect((await t.services.twofa.status(user.id)).backupCodesRemaining).toBe(9);
    step();
    const fresh = await t.services.twofa.regenerateBackupCodes(
      user.id,
      { code: code(secret) },
      META,
      "session:s",
    );
    expect(fresh).toHaveLength(10);
    await expectCode(
      t.services.twofa.verifyLoginCode(user.id, { backupCode: backupCodes[1]! }, META),
      "invalid_mfa_code",
    );
    await t.services.twofa.verifyLoginCode(user.id, { backupCode: fresh[0]! }, META);
  });

  it("pauses after ten failed codes, then refuses even a right one until the pause ends", async () => {
    const { secret } = await enable();
    for (let i = 0; i < MAX_FAILED_CODES; i++)
      await expectCode(
        t.services.twofa.verifyLoginCode(user.id, { code: "000000" }, META),
        "invalid_mfa_code",
      );
    step();
    await expectCode(
      t.services.twofa.verifyLoginCode(user.id, { code: code(secret) }, META),
      "too_many_attempts",
    );
    const events = await t.services.audit.list({ userId: user.id, limit: 50 });
    expect(events.filter((e) => e.event === "2fa_locked")).toHaveLength(1);
    t.clock.now += 15 * 60_000;
    await t.services.twofa.verifyLoginCode(user.id, { code: code(secret) }, META);
  });

  it("disables with a code; afterwards code checks answer conflict", async () => {
    const { secret } = await enable();
    step();
    await t.services.twofa.disable(user.id, { code: code(secret) }, META, "session:s");
    expect(await t.services.twofa.status(user.id)).toMatchObject({
      enabled: false,
      pending: false,
    });
    expect(await t.services.twofa.isEnabled(user.id)).toBe(false);
    await expectCode(
      t.services.twofa.disable(user.id, { code: code(secret) }, META, "session:s"),
      "conflict",
    );
    await expectCode(
      t.services.twofa.regenerateBackupCodes(user.id, { code: "1" }, META, "s"),
      "conflict",
    );
  });
});
