import { afterAll, beforeAll, expect, it } from "vitest";
import { sha256 } from "../../src/infra/secrets.js";
import { client, expectError, PASSWORD, signupAndLogin, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { linkIn, startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";
import { describeEachStore } from "../helpers/stores.js";
import { authenticatorCode, enableTwoFactor, testClock } from "./twofa-support.js";

const NEW_PASSWORD = "a-brand-new-and-unusual-passphrase";
const PORTAL = "https://accounts.example.test";
/** Per-email limit of the main server: room for the timing samples of one email. */
const PER_EMAIL = 20;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describeEachStore("reset password", (store) => {
  let inbox: Inbox;
  let server: TestServer;
  let api: ReturnType<typeof client>;
  const clock = testClock();
  /** The server's first account. */
  let staff: Awaited<ReturnType<typeof signupAndLogin>>;

  beforeAll(async () => {
    inbox = await startSmtp();
    server = await startTestServer({
      store,
      now: clock.now,
      // Every test calls from 127.0.0.1: the per-address limit has its own test below.
      env: {
        SMTP_URL: inbox.url,
        LATCHKEY_PUBLIC_URL: PORTAL,
        LATCHKEY_RESET_MAX_PER_IP: "1000",
        LATCHKEY_RESET_MAX_PER_EMAIL: String(PER_EMAIL),
      },
    });
    api = client(server.url);
    staff = await signupAndLogin(server.url);
  });
  afterAll(async () => {
    await server?.close();
    await inbox?.close();
  });

  const requestReset = (email: string) => api.post("/v1/auth/password/reset", { email });
  const confirm = (body: Record<string, unknown>) =>
    api.post("/v1/auth/password/reset/confirm", { new_password: NEW_PASSWORD, ...body });

  async function resetToken(email: string, nth = 1): Promise<string> {
    expect((await requestReset(email)).status).toBe(202);
    await expect
      .poll(() => inbox.to(email).filter((m) => /reset your password/i.test(m.subject ?? "")), {
        timeout: 10_000,
      })
      .toHaveLength(nth);
    const mails = inbox.to(email).filter((m) => /reset your password/i.test(m.subject ?? ""));
    return tokenIn(mails[nth - 1]!);
  }

  it("answers an unknown email exactly as a known one, in about the same time", async () => {
    const known = await signupAndLogin(server.url);
    const unknown = uniqueEmail("nobody");
    const a = await requestReset(known.email);
    const b = await requestReset(unknown);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body).toEqual(a.body);
    expect(a.body.accepted).toBe(true);
    // …and the same headers, but for the request id and the date.
    const headers = (r: typeof a) =>
      [...r.headers.entries()].filter(([name]) => !["date", "x-request-id"].includes(name));
    expect(headers(b)).toEqual(headers(a));

    const times: { known: number[]; unknown: number[] } = { known: [], unknown: [] };
    for (let i = 0; i < 12; i++) {
      for (const [kind, email] of [
        ["known", known.email],
        ["unknown", unknown],
      ] as const) {
        const started = performance.now();
        expect((await requestReset(email)).status).toBe(202);
        times[kind].push(performance.now() - started);
      }
    }
    // The mail leaves from the outbox, after the answer: no SMTP time in either. Loose, for a
    // loaded 2-core machine: within a factor of 2, or within 15 ms of each other.
    const [k, u] = [median(times.known), median(times.unknown)];
    console.log(`reset timing: known ${k.toFixed(1)} ms, unknown ${u.toFixed(1)} ms`);
    expect(Math.abs(k - u) < 15 || Math.max(k, u) / Math.min(k, u) < 2, `${k} vs ${u}`).toBe(true);
    await inbox.waitFor(known.email, /reset your password/i);
    expect(inbox.to(unknown)).toHaveLength(0);
  });

  it("mails a portal link with ?token=, stores only its hash, and sets the password once", async () => {
    const user = await signupAndLogin(server.url);
    const token = await resetToken(user.email);
    const mail = inbox.to(user.email).find((m) => /reset your password/i.test(m.subject ?? ""))!;
    const link = linkIn(mail);
    expect(link.origin + link.pathname).toBe(`${PORTAL}/reset-password`);
    expect(mail.html).toContain(token);
    const stored = await server.db
      .selectFrom("account_tokens")
      .select("token_hash")
      .where("purpose", "=", "password_reset")
      .where("user_id", "=", user.userId)
      .execute();
    expect(stored).toEqual([{ token_hash: sha256(token) }]);

    const done = await confirm({ token });
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ sessions_ended: 1 });
    expectError(await confirm({ token }), 401, "token_invalid");
    expectError(
      await api.post("/v1/auth/login", { email: user.email, password: PASSWORD }),
      401,
      "invalid_credentials",
    );
    const login = await api.post("/v1/auth/login", { email: user.email, password: NEW_PASSWORD });
    expect(login.status).toBe(200);
    // The link reached the address: that verifies it.
    const who = await api.get("/v1/auth/whoami", { token: login.body.access_token });
    expect(who.body.email_verified).toBe(true);
    await inbox.waitFor(user.email, /password was changed/i);
    const audit = await api.get("/v1/audit-log?event=password_reset", {
      token: login.body.access_token,
    });
    expect(audit.body.events).toHaveLength(1);
  });

  it("ends every session of the account", async () => {
    const user = await signupAndLogin(server.url);
    const second = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    const token = await resetToken(user.email);
    const done = await confirm({ token });
    expect(done.body).toEqual({ sessions_ended: 2 });
    for (const access of [user.accessToken, second.body.access_token as string])
      expectError(await api.get("/v1/auth/whoami", { token: access }), 401, "token_invalid");
    const refresh = await api.post("/v1/auth/refresh", { refresh_token: user.refreshToken });
    expect(refresh.status).toBe(401);
  });

  it("refuses a reset link after 30 minutes", async () => {
    const user = await signupAndLogin(server.url);
    const token = await resetToken(user.email);
    clock.advance(30 * 60_000 + 1_000);
    try {
      expectError(await confirm({ token }), 401, "token_expired");
    } finally {
      clock.advance(-(30 * 60_000 + 1_000));
    }
  });

  it("lets a newer reset request supersede the older link", async () => {
    const user = await signupAndLogin(server.url);
    const first = await resetToken(user.email, 1);
    const second = await resetToken(user.email, 2);
    expectError(await confirm({ token: first }), 401, "token_invalid");
    expect((await confirm({ token: second })).status).toBe(200);
  });

  it("leaves one live link when reset requests for one account race", async () => {
    const user = await signupAndLogin(server.url);
    const replies = await Promise.all(Array.from({ length: 12 }, () => requestReset(user.email)));
    expect(replies.every((r) => r.status === 202)).toBe(true);
    await expect
      .poll(() => inbox.to(user.email).filter((m) => /reset/i.test(m.subject ?? "")).length, {
        timeout: 10_000,
      })
      .toBe(12);
    const live = await server.db
      .selectFrom("account_tokens")
      .select("token_hash")
      .where("user_id", "=", user.userId)
      .where("purpose", "=", "password_reset")
      .where("used_at", "is", null)
      .execute();
    expect(live).toHaveLength(1);
  });

  it("refuses a weak new password without spending the link", async () => {
    const user = await signupAndLogin(server.url);
    const token = await resetToken(user.email);
    const weak = await confirm({ token, new_password: "password1234" });
    expectError(weak, 400, "invalid_request");
    expect(weak.body.error.details[0].field).toBe("new_password");
    expect((await confirm({ token })).status).toBe(200);
  });

  it("asks a 2FA account for a code; a mailbox alone does not take it over", async () => {
    const user = await signupAndLogin(server.url);
    const { secret, backupCodes } = await enableTwoFactor(server.url, user.accessToken, clock.ms);
    clock.steps();
    const token = await resetToken(user.email);

    expectError(await confirm({ token }), 401, "mfa_required");
    expectError(await confirm({ token, code: "000000" }), 401, "invalid_mfa_code");
    // Neither refusal spent the link, nor changed the password or ended the session.
    expect((await api.get("/v1/auth/whoami", { token: user.accessToken })).status).toBe(200);
    const still = await api.post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      code: authenticatorCode(secret, clock.ms),
    });
    expect(still.status).toBe(200);

    clock.steps();
    const done = await confirm({ token, code: authenticatorCode(secret, clock.ms) });
    expect(done.status).toBe(200);

    // A backup code does as well, once.
    const again = await resetToken(user.email, 2);
    expect((await confirm({ token: again, backup_code: backupCodes[0] })).status).toBe(200);
    const third = await resetToken(user.email, 3);
    expectError(
      await confirm({ token: third, backup_code: backupCodes[0] }),
      401,
      "invalid_mfa_code",
    );
  });

  it("answers a disabled account's reset like any other, and mails it nothing", async () => {
    const user = await signupAndLogin(server.url);
    const disabled = await api.patch(
      `/v1/admin/users/${user.userId}`,
      { disabled: true },
      { token: staff.accessToken },
    );
    expect(disabled.status).toBe(200);
    const reply = await requestReset(user.email);
    expect(reply.status).toBe(202);
    expect(reply.body).toEqual((await requestReset(uniqueEmail("nobody"))).body);
    // Everything accepted is stored, and everything due is sent: still no reset mail.
    await server.services.passwords.drain();
    await server.services.mailOutbox.cycle();
    expect(inbox.to(user.email).filter((m) => /reset/i.test(m.subject ?? ""))).toEqual([]);
  });

  it("throttles reset requests per email", async () => {
    const email = uniqueEmail("flood");
    const replies = [];
    for (let i = 0; i <= PER_EMAIL; i++) replies.push(await requestReset(email));
    expect(replies.slice(0, PER_EMAIL).every((r) => r.status === 202)).toBe(true);
    expectError(replies[PER_EMAIL]!, 429, "too_many_attempts");
    expect(replies[PER_EMAIL]!.headers.get("retry-after")).toBeTruthy();
    // Another email is not held back by this one's limit.
    expect((await requestReset(uniqueEmail("other"))).status).toBe(202);
  });

  it("answers malformed bodies with invalid_request, never a 500", async () => {
    for (const body of [{}, { email: "not-an-email" }, { email: 3 }, { email: "a@b.co", x: 1 }])
      expectError(
        await api.post("/v1/auth/password/reset", body),
        400,
        "invalid_request",
        JSON.stringify(body),
      );
    for (const body of [
      {},
      { token: "lkp_x" },
      { token: 1, new_password: NEW_PASSWORD },
      { token: "lkp_x", new_password: NEW_PASSWORD, code: "12" },
      { token: "lkp_x", new_password: NEW_PASSWORD, code: "123456", backup_code: "abcd-efgh-ijkl" },
    ])
      expectError(
        await api.post("/v1/auth/password/reset/confirm", body),
        400,
        "invalid_request",
        JSON.stringify(body),
      );
    expectError(await confirm({ token: "lkp_unknown" }), 401, "token_invalid");
  });
});

describeEachStore("reset password throttled per address", (store) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ store, env: { LATCHKEY_RESET_MAX_PER_IP: "3" } });
  });
  afterAll(async () => server?.close());

  it("refuses a fourth request from one address, whatever the emails", async () => {
    const api = client(server.url);
    const replies = [];
    for (let i = 0; i < 4; i++)
      replies.push(await api.post("/v1/auth/password/reset", { email: uniqueEmail("ip") }));
    expect(replies.slice(0, 3).map((r) => r.status)).toEqual([202, 202, 202]);
    expectError(replies[3]!, 429, "too_many_attempts");
  });
});
