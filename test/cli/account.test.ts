import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";
import { Machine, testClock, totp } from "./support.js";

const NEW_PASSWORD = "a-new-and-unusual-cli-passphrase";

describe.sequential("latchkey password and email (the real binary)", { timeout: 90_000 }, () => {
  let inbox: Inbox;
  let server: TestServer;
  const clock = testClock();
  const machines: Machine[] = [];

  beforeAll(async () => {
    inbox = await startSmtp();
    server = await startTestServer({
      now: clock.now,
      env: { SMTP_URL: inbox.url, LATCHKEY_RESET_MAX_PER_IP: "1000" },
    });
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
    await inbox?.close();
  });

  const api = () => client(server.url);

  async function user() {
    const email = uniqueEmail("cli-acct");
    expect((await api().post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api().post("/v1/auth/login", { email, password: PASSWORD });
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    return { m, email, access: login.body.access_token as string };
  }

  it("email verify TOKEN verifies the address; whoami then says so", async () => {
    const { m, email } = await user();
    const before = await m.spawn(["whoami"]);
    expect(before.stdout).toContain("(not verified)");
    const mail = await inbox.waitFor(email, /confirm/i);
    const result = await m.spawn(["email", "verify", tokenIn(mail), "-o", "json"]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ email, email_verified: true });
    const who = await m.spawn(["whoami", "-o", "json"]);
    expect(JSON.parse(who.stdout).email_verified).toBe(true);
    // Spent: refused, exit 3 (authentication).
    const again = await m.spawn(["email", "verify", tokenIn(mail)]);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain("token_invalid");
  });

  it("email change mails the new address; email verify with its link moves the account", async () => {
    const { m, email } = await user();
    const moved = uniqueEmail("cli-moved");
    clock.advance(10 * 60_000 + 1_000);
    // Step-up: an old sign-in without a terminal exits 3, saying what to pass.
    const stale = await m.spawn(["email", "change", moved]);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain("--password-stdin");
    const asked = await m.spawn(["email", "change", moved, "--password-stdin"], {
      input: `${PASSWORD}\n`,
    });
    expect(asked.code, asked.stderr).toBe(0);
    expect(asked.stdout).toContain(moved);
    expect(asked.stdout + asked.stderr).not.toContain(PASSWORD);
    const mail = await inbox.waitFor(moved, /confirm your new email/i);
    const confirmed = await m.spawn(["email", "verify", tokenIn(mail)]);
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toContain(`now ${moved}`);
    expect(confirmed.stdout).toContain(email);
    const who = await m.spawn(["whoami", "-o", "json"]);
    expect(JSON.parse(who.stdout)).toMatchObject({ email: moved, email_verified: true });
    const taken = await m.spawn(["email", "change", moved]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain("already the account's email");
  });

  it("email resend mails a new link, and the whole link works as the argument", async () => {
    const { m, email } = await user();
    const result = await m.spawn(["email", "resend"]);
    expect(result.code, result.stderr).toBe(0);
    await expect.poll(() => inbox.to(email).length, { timeout: 10_000 }).toBe(2);
    const link = /https?:\/\/\S+token=\S+/.exec(inbox.to(email)[1]!.text!)![0];
    const verified = await m.spawn(["email", "verify", link]);
    expect(verified.code, verified.stderr).toBe(0);
  });

  it("password change reads both passwords from stdin, never argv, and keeps this session", async () => {
    const { m, email } = await user();
    const other = await api().post("/v1/auth/login", { email, password: PASSWORD });
    const result = await m.spawn(["password", "change", "--password-stdin", "-o", "json"], {
      input: `${PASSWORD}\n${NEW_PASSWORD}\n`,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ changed: true, sessions_ended: 1 });
    expect((await m.spawn(["whoami"])).code).toBe(0);
    const stale = await api().get("/v1/auth/whoami", { token: other.body.access_token });
    expect(stale.status).toBe(401);

    const wrong = await m.spawn(["password", "change", "--password-stdin"], {
      input: `not-the-password\n${PASSWORD}-x\n`,
    });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("invalid_credentials");
    const missing = await m.spawn(["password", "change", "--password-stdin"], { input: "" });
    expect(missing.code).toBe(2);
    const noTerminal = await m.spawn(["password", "change"]);
    expect(noTerminal.code).toBe(2);
    expect(noTerminal.stderr).toContain("--password-stdin");
  });

  it("password reset and reset-confirm set a new password from the mailed link", async () => {
    const { m, email } = await user();
    const anonymous = new Machine(server.url);
    machines.push(anonymous);
    const asked = await anonymous.spawn(["password", "reset", "--email", email]);
    expect(asked.code, asked.stderr).toBe(0);
    const nobody = await anonymous.spawn(["password", "reset", "--email", uniqueEmail("none")]);
    expect(nobody.code).toBe(0);
    const mail = await inbox.waitFor(email, /reset your password/i);
    const confirmed = await anonymous.spawn(
      ["password", "reset-confirm", "--token", tokenIn(mail), "--password-stdin", "-o", "json"],
      { input: `${NEW_PASSWORD}\n` },
    );
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(JSON.parse(confirmed.stdout)).toEqual({ reset: true, sessions_ended: 1 });
    // Every session ended, this machine's too.
    expect((await m.spawn(["whoami"])).code).toBe(3);
    const login = await api().post("/v1/auth/login", { email, password: NEW_PASSWORD });
    expect(login.status).toBe(200);
  });

  it("reset-confirm of a 2FA account needs --code (exit 3 without), then succeeds with it", async () => {
    const { email, access } = await user();
    const setup = await api().post("/v1/auth/2fa/setup", undefined, { token: access });
    clock.step();
    const enabled = await api().post(
      "/v1/auth/2fa/verify",
      { code: totp(setup.body.secret, clock.ms) },
      { token: access },
    );
    expect(enabled.status).toBe(200);
    const m = new Machine(server.url);
    machines.push(m);
    expect((await m.spawn(["password", "reset", "--email", email])).code).toBe(0);
    const token = tokenIn(await inbox.waitFor(email, /reset your password/i));
    const args = ["password", "reset-confirm", "--token", token, "--password-stdin"];
    const refused = await m.spawn(args, { input: `${NEW_PASSWORD}\n` });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("--code");
    clock.step();
    const done = await m.spawn([...args, "--code", totp(setup.body.secret, clock.ms)], {
      input: `${NEW_PASSWORD}\n`,
    });
    expect(done.code, done.stderr).toBe(0);
  });
});
