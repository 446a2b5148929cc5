import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { client, PASSWORD, signupAndLogin, expectError } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { describeCluster, describeEachStore } from "../helpers/stores.js";
import { authenticatorCode, enableTwoFactor, jwtClaims, testClock } from "./twofa-support.js";

describeEachStore("sign-in with 2FA", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  const clock = testClock();

  beforeAll(async () => {
    // Ten free sign-in attempts (not the default five) before the account's back-off: the
    // concurrent sign-ins below count as possible failures while they are checked.
    server = await startTestServer({
      store,
      now: clock.now,
      env: { LATCHKEY_LOGIN_BACKOFF_AFTER: "10" },
    });
    api = client(server.url);
  });
  afterAll(async () => server?.close());

  /** A user with 2FA on; the clock has moved past the step used to enable it. */
  async function enrolled() {
    const user = await signupAndLogin(server.url);
    const factor = await enableTwoFactor(server.url, user.accessToken, clock.ms);
    clock.steps();
    return { ...user, ...factor };
  }

  const login = (email: string, extra: Record<string, string> = {}) =>
    api.post("/v1/auth/login", { email, password: PASSWORD, ...extra });

  async function mfaToken(email: string): Promise<string> {
    const reply = await login(email);
    expect(reply.status).toBe(401);
    expect(reply.body.error.code).toBe("mfa_required");
    return reply.body.error.mfa_token;
  }

  /**
   * One success; the rest refused as a wrong code, or as too many attempts: at most 10
   * codes (and passwords) of one account are checked at once, the rest answer 429
   * unchecked (test/security/throttle-race.test.ts), so of the 10 or more checked one
   * wins and at least 9 lose. On a slow machine an attempt may also start after five others
   * already failed: the account's back-off answers it `rate_limited` (login-throttle.ts).
   */
  function expectOneWinner(replies: { status: number; body: any }[]) {
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    const codes = replies.filter((r) => r.status !== 200).map((r) => r.body.error.code);
    expect(codes).toHaveLength(replies.length - 1);
    for (const code of codes)
      expect(["invalid_mfa_code", "too_many_attempts", "rate_limited"]).toContain(code);
    expect(codes.filter((c) => c === "invalid_mfa_code").length).toBeGreaterThanOrEqual(9);
  }

  const auditCount = async (userId: string, event: string) =>
    (
      await server.db
        .selectFrom("audit_log")
        .select("id")
        .where("user_id", "=", userId)
        .where("event", "=", event)
        .execute()
    ).length;

  it("signs in with the password alone while 2FA is off (amr pwd)", async () => {
    const user = await signupAndLogin(server.url);
    const reply = await login(user.email);
    expect(reply.status).toBe(200);
    expect(jwtClaims(reply.body.access_token).amr).toEqual(["pwd"]);
  });

  it("asks for the second factor with a single-use mfa_token, then issues pwd+otp tokens", async () => {
    const user = await enrolled();
    const first = await login(user.email);
    expect(first.status).toBe(401);
    expect(first.body.error).toMatchObject({ code: "mfa_required" });
    const token = first.body.error.mfa_token as string;
    expect(token.length).toBeGreaterThan(30);
    // Stored only as a hash.
    const rows = await server.db
      .selectFrom("mfa_tokens")
      .selectAll()
      .where("user_id", "=", user.userId)
      .execute();
    expect(JSON.stringify(rows)).not.toContain(token);

    const done = await api.post("/v1/auth/login/mfa", {
      mfa_token: token,
      code: authenticatorCode(user.secret, clock.ms),
    });
    expect(done.status).toBe(200);
    expect(done.body.token_type).toBe("Bearer");
    expect(jwtClaims(done.body.access_token)).toMatchObject({
      sub: user.userId,
      amr: ["pwd", "otp"],
    });
    const whoami = await api.get("/v1/auth/whoami", { token: done.body.access_token });
    expect(whoami.body.amr).toEqual(["pwd", "otp"]);

    clock.steps();
    const reused = await api.post("/v1/auth/login/mfa", {
      mfa_token: token,
      code: authenticatorCode(user.secret, clock.ms),
    });
    expect(reused.status).toBe(401);
    expect(reused.body.error.code).toBe("token_invalid");
  });

  it("accepts the code in the login body", async () => {
    const user = await enrolled();
    const reply = await login(user.email, { code: authenticatorCode(user.secret, clock.ms) });
    expect(reply.status).toBe(200);
    expect(jwtClaims(reply.body.access_token).amr).toEqual(["pwd", "otp"]);
    clock.steps();
    const wrong = await login(user.email, {
      code: authenticatorCode(user.secret, clock.ms + 20 * 30_000),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("invalid_mfa_code");
    // A wrong password is still a wrong password, whatever the code.
    const badPassword = await api.post("/v1/auth/login", {
      email: user.email,
      password: "not-the-password-at-all",
      code: authenticatorCode(user.secret, clock.ms),
    });
    expect(badPassword.status).toBe(401);
    expect(badPassword.body.error.code).toBe("invalid_credentials");
  });

  it("signs in with a backup code, once", async () => {
    const user = await enrolled();
    const code = user.backupCodes[5]!;
    const viaMfa = await api.post("/v1/auth/login/mfa", {
      mfa_token: await mfaToken(user.email),
      backup_code: code,
    });
    expect(viaMfa.status).toBe(200);
    expect(jwtClaims(viaMfa.body.access_token).amr).toEqual(["pwd", "otp"]);
    const again = await login(user.email, { backup_code: code });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe("invalid_mfa_code");
    // Typed by hand: upper case, spaces instead of dashes.
    const typed = await login(user.email, {
      backup_code: user.backupCodes[6]!.toUpperCase().replaceAll("-", " "),
    });
    expect(typed.status).toBe(200);
    const status = await api.get("/v1/auth/2fa/status", { token: typed.body.access_token });
    expect(status.body.backup_codes_remaining).toBe(8);
    expect(await auditCount(user.userId, "backup_code_used")).toBe(2);
  });

  it("accepts one step of clock skew either side and refuses two", async () => {
    const user = await enrolled();
    clock.steps(); // the step before now must not be the one used to enable 2FA
    const at = (steps: number) => authenticatorCode(user.secret, clock.ms + steps * 30_000);
    expect((await login(user.email, { code: at(-1) })).status).toBe(200);
    expect((await login(user.email, { code: at(+1) })).status).toBe(200);
    clock.steps(4);
    for (const offset of [-2, +2]) {
      const reply = await login(user.email, { code: at(offset) });
      expect(reply.status, `offset ${offset}`).toBe(401);
      expect(reply.body.error.code).toBe("invalid_mfa_code");
    }
    expect((await login(user.email, { code: at(0) })).status).toBe(200);
  });

  it("never accepts a code twice, nor one older than the last accepted", async () => {
    const user = await enrolled();
    const code = authenticatorCode(user.secret, clock.ms);
    expect((await login(user.email, { code })).status).toBe(200);
    const replay = await login(user.email, { code });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe("invalid_mfa_code");
    const viaMfa = await api.post("/v1/auth/login/mfa", {
      mfa_token: await mfaToken(user.email),
      code,
    });
    expectError(viaMfa, 401, "invalid_mfa_code");
    // Next step: the previous step's code is still within skew but older than the last used.
    clock.steps();
    const older = await login(user.email, {
      code: authenticatorCode(user.secret, clock.ms - 30_000),
    });
    expectError(older, 401, "invalid_mfa_code");
    expect(
      (await login(user.email, { code: authenticatorCode(user.secret, clock.ms) })).status,
    ).toBe(200);
  });

  it("lets exactly one of 20 concurrent sign-ins spend one backup code", async () => {
    const user = await enrolled();
    // One after another: 20 password checks at once would exceed the 10 allowed in flight.
    const tokens: string[] = [];
    for (let i = 0; i < 20; i++) tokens.push(await mfaToken(user.email));
    const code = user.backupCodes[0]!;
    const replies = await Promise.all(
      tokens.map((token) =>
        api.post("/v1/auth/login/mfa", { mfa_token: token, backup_code: code }),
      ),
    );
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    expectOneWinner(replies);
    const used = await server.db
      .selectFrom("backup_codes")
      .select("used_at")
      .where("user_id", "=", user.userId)
      .where("used_at", "is not", null)
      .execute();
    expect(used).toHaveLength(1);
  });

  it("lets exactly one of 20 concurrent sign-ins use one TOTP code", async () => {
    const user = await enrolled();
    const code = authenticatorCode(user.secret, clock.ms);
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => login(user.email, { code })),
    );
    expectOneWinner(replies);
  });

  it("pauses second-factor sign-in for 15 minutes after 10 consecutive failed codes", async () => {
    const user = await enrolled();
    const wrong = authenticatorCode(user.secret, clock.ms + 40 * 30_000);
    const token = await mfaToken(user.email);
    for (let i = 0; i < 10; i++) {
      const body = i % 2 ? { code: wrong } : { backup_code: "zzzz-zzzz-zzzz" };
      const reply = await api.post("/v1/auth/login/mfa", { mfa_token: token, ...body });
      expect(reply.status, `attempt ${i + 1}`).toBe(401);
      expect(reply.body.error.code).toBe("invalid_mfa_code");
    }
    // Now even the right code, and even with the password in the same request, waits.
    const paused = await api.post("/v1/auth/login/mfa", {
      mfa_token: token,
      code: authenticatorCode(user.secret, clock.ms),
    });
    expect(paused.status).toBe(429);
    expect(paused.body.error.code).toBe("too_many_attempts");
    expect(paused.body.error.retry_after).toBeGreaterThan(14 * 60);
    expect(paused.body.error.retry_after).toBeLessThanOrEqual(15 * 60);
    expect(Number(paused.headers.get("retry-after"))).toBe(paused.body.error.retry_after);
    const inBody = await login(user.email, { backup_code: user.backupCodes[0]! });
    expectError(inBody, 429, "too_many_attempts");
    const disable = await api.post(
      "/v1/auth/2fa/disable",
      { code: authenticatorCode(user.secret, clock.ms) },
      { token: user.accessToken },
    );
    expectError(disable, 429, "too_many_attempts");
    expect(await auditCount(user.userId, "2fa_failed_code")).toBe(10);
    expect(await auditCount(user.userId, "2fa_locked")).toBe(1);
    // The backup code offered during the pause was not spent.
    const unused = await server.db
      .selectFrom("backup_codes")
      .select("id")
      .where("user_id", "=", user.userId)
      .where("used_at", "is", null)
      .execute();
    expect(unused).toHaveLength(10);

    clock.advance(14 * 60_000);
    expectError(
      await login(user.email, { code: authenticatorCode(user.secret, clock.ms) }),
      429,
      "too_many_attempts",
    );
    clock.advance(60_000 + 1_000);
    const after = await login(user.email, { code: authenticatorCode(user.secret, clock.ms) });
    expect(after.status).toBe(200);
    expect(jwtClaims(after.body.access_token).amr).toEqual(["pwd", "otp"]);
  });

  it("counts only consecutive failures: a success resets the count", async () => {
    const user = await enrolled();
    // The MFA step keeps its token across wrong codes, so these rounds skip the password hash.
    const round = async () => {
      const token = await mfaToken(user.email);
      const wrong = authenticatorCode(user.secret, clock.ms + 40 * 30_000);
      for (let i = 0; i < 9; i++) {
        const reply = await api.post("/v1/auth/login/mfa", { mfa_token: token, code: wrong });
        expectError(reply, 401, "invalid_mfa_code");
      }
      const right = await api.post("/v1/auth/login/mfa", {
        mfa_token: token,
        code: authenticatorCode(user.secret, clock.ms),
      });
      expect(right.status).toBe(200);
      clock.steps();
    };
    await round();
    await round();
    expect(await auditCount(user.userId, "2fa_locked")).toBe(0);
  });

  it("expires the mfa_token after 5 minutes and refuses unknown ones", async () => {
    const user = await enrolled();
    const token = await mfaToken(user.email);
    clock.advance(5 * 60_000 + 1);
    const late = await api.post("/v1/auth/login/mfa", {
      mfa_token: token,
      code: authenticatorCode(user.secret, clock.ms),
    });
    expect(late.status).toBe(401);
    expect(late.body.error.code).toBe("token_expired");
    const unknown = await api.post("/v1/auth/login/mfa", {
      mfa_token: "mfa_not-a-real-token",
      code: authenticatorCode(user.secret, clock.ms),
    });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.code).toBe("token_invalid");
  });

  it("wants exactly one of code and backup_code at login/mfa", async () => {
    const user = await enrolled();
    const token = await mfaToken(user.email);
    for (const body of [
      { mfa_token: token },
      { mfa_token: token, code: "123456", backup_code: user.backupCodes[0] },
      { mfa_token: token, code: "12345" },
    ]) {
      const reply = await api.post("/v1/auth/login/mfa", body);
      expect(reply.status).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
    }
    // None of those spent the token or counted as a failed code.
    const ok = await api.post("/v1/auth/login/mfa", {
      mfa_token: token,
      code: authenticatorCode(user.secret, clock.ms),
    });
    expect(ok.status).toBe(200);
    expect(await auditCount(user.userId, "2fa_failed_code")).toBe(0);
  });
});

// Two instances behind a load balancer: one PostgreSQL, one Redis. The lockout counts
// through Redis and the replay guard through the database, so neither resets by
// switching instance.
describeCluster("2FA across two instances [postgres+redis]", () => {
  const clock = testClock();
  const env = { LATCHKEY_MASTER_KEY: randomBytes(32).toString("hex") };
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    const prefix = freshRedisPrefix();
    a = await startTestServer({ store: "postgres", redis: prefix, env, now: clock.now });
    b = await startTestServer({
      databaseUrl: a.config.database,
      redis: prefix,
      env,
      now: clock.now,
    });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it("refuses on one instance a code accepted on the other, and shares the lockout", async () => {
    const user = await signupAndLogin(a.url);
    const { secret } = await enableTwoFactor(a.url, user.accessToken, clock.ms);
    clock.steps();
    const code = authenticatorCode(secret, clock.ms);
    const onA = await client(a.url).post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      code,
    });
    expect(onA.status).toBe(200);
    const onB = await client(b.url).post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      code,
    });
    expect(onB.status).toBe(401);
    expect(onB.body.error.code).toBe("invalid_mfa_code");

    const wrong = authenticatorCode(secret, clock.ms + 40 * 30_000);
    for (let i = 0; i < 9; i++) {
      const target = i % 2 ? a.url : b.url;
      const reply = await client(target).post("/v1/auth/login", {
        email: user.email,
        password: PASSWORD,
        code: wrong,
      });
      expectError(reply, 401, "invalid_mfa_code");
    }
    clock.steps();
    const paused = await client(b.url).post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      code: authenticatorCode(secret, clock.ms),
    });
    expect(paused.status).toBe(429);
    expect(paused.body.error.code).toBe("too_many_attempts");
    expect(paused.body.error.retry_after).toBeGreaterThan(14 * 60);
  });
});
