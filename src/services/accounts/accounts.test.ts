import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  expectCode,
  META,
  PASSWORD,
  testServices,
  type TestDeps,
} from "../../../test/store/deps.js";
import { generateTotp, decodeBase32 } from "../../core/totp.js";

describe("Accounts", () => {
  let t: TestDeps;
  beforeEach(async () => {
    t = await testServices({ env: { LATCHKEY_LOGIN_MAX_FAILURES: "3" } });
  });
  afterEach(async () => t.close());

  it("signs up with a normalised email; the first account is staff, later ones are not", async () => {
    const first = await t.services.accounts.signup(
      { email: "  Ada@Example.TEST ", password: PASSWORD },
      META,
    );
    expect(first).toMatchObject({
      email: "ada@example.test",
      isStaff: true,
      isService: false,
      plan: "free",
      disabled: false,
      createdAt: t.clock.now,
    });
    expect(first).not.toHaveProperty("password_hash");
    const second = await t.services.accounts.signup(
      { email: "bob@example.test", password: PASSWORD },
      META,
    );
    expect(second.isStaff).toBe(false);
    const stored = await t.deps.store.users.byId(first.id);
    expect(stored?.password_hash).not.toContain(PASSWORD);
    const [event] = await t.services.audit.list({ userId: first.id, limit: 5 });
    expect(event).toMatchObject({ event: "signup", ip: META.ip });
  });

  it("refuses a taken email (conflict) and a weak password (invalid_request)", async () => {
    await t.services.accounts.signup({ email: "ada@example.test", password: PASSWORD }, META);
    await expectCode(
      t.services.accounts.signup({ email: "ADA@example.test", password: PASSWORD }, META),
      "conflict",
    );
    const weak = await expectCode(
      t.services.accounts.signup({ email: "c@example.test", password: "short" }, META),
      "invalid_request",
    );
    expect(weak.extras.details).toEqual([expect.objectContaining({ field: "password" })]);
  });

  it("logs in with the right password and starts a session", async () => {
    await t.services.accounts.signup({ email: "ada@example.test", password: PASSWORD }, META);
    const pair = await t.services.accounts.login(
      { email: "ada@example.test", password: PASSWORD },
      META,
    );
    expect(pair.accessTtlSeconds).toBe(t.deps.tokens.ttlSeconds);
    expect(pair.refreshToken).toMatch(/^lkr_/);
    const check = await t.deps.tokens.verify(pair.accessToken);
    expect(check.ok && check.claims.amr).toEqual(["pwd"]);
  });

  it("answers a wrong password and an unknown email alike, and throttles after the limit", async () => {
    await t.services.accounts.signup({ email: "ada@example.test", password: PASSWORD }, META);
    const login = (email: string, password: string) =>
      t.services.accounts.login({ email, password }, META);
    await expectCode(login("ada@example.test", "wrong password!!"), "invalid_credentials");
    await expectCode(login("nobody@example.test", PASSWORD), "invalid_credentials");
    await expectCode(login("ada@example.test", "wrong again!!!!"), "invalid_credentials");
    await expectCode(login("ada@example.test", "third wrong one"), "invalid_credentials");
    // Over the limit: refused unevaluated, even with the right password.
    const throttled = await expectCode(login("ada@example.test", PASSWORD), "too_many_attempts");
    expect(throttled.retryAfter).toBeGreaterThan(0);
    t.clock.now += t.deps.config.login.windowMs;
    await expect(login("ada@example.test", PASSWORD)).resolves.toHaveProperty("accessToken");
  });

  it("refuses a disabled account as it refuses a wrong password", async () => {
    const user = await t.services.accounts.signup(
      { email: "ada@example.test", password: PASSWORD },
      META,
    );
    await t.deps.store.users.update(user.id, { disabled: 1 });
    await expectCode(
      t.services.accounts.login({ email: "ada@example.test", password: PASSWORD }, META),
      "invalid_credentials",
    );
  });

  it("asks for the second factor when 2FA is on, and accepts a code sent with the password", async () => {
    const user = await t.services.accounts.signup(
      { email: "ada@example.test", password: PASSWORD },
      META,
    );
    const setup = await t.services.twofa.setup({ id: user.id, email: user.email });
    const secret = decodeBase32(setup.secret)!;
    await t.services.twofa.verify(user.id, generateTotp(secret, t.clock.now), META, "session:s");
    const required = await expectCode(
      t.services.accounts.login({ email: "ada@example.test", password: PASSWORD }, META),
      "mfa_required",
    );
    expect(typeof required.extras.mfa_token).toBe("string");
    t.clock.now += 30_000;
    const pair = await t.services.accounts.login(
      { email: "ada@example.test", password: PASSWORD, code: generateTotp(secret, t.clock.now) },
      META,
    );
    const check = await t.deps.tokens.verify(pair.accessToken);
    expect(check.ok && check.claims.amr).toEqual(["pwd", "otp"]);
  });
});
