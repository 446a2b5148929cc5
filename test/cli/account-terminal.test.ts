import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";
import { Machine, Terminal, testClock, totp } from "./support.js";

const NEW_PASSWORD = "typed-at-a-terminal-passphrase";

/** Password prompts on a real terminal (tmux): hidden, repeated, and the 2FA step of a reset. */
describe.sequential("latchkey password on a terminal", { timeout: 90_000 }, () => {
  let inbox: Inbox;
  let server: TestServer;
  const clock = testClock();
  const machines: Machine[] = [];
  let terminal: Terminal | null = null;

  beforeAll(async () => {
    if (!(await Terminal.isAvailable()))
      throw new Error(
        "tmux is required for the CLI terminal tests: bash scripts/install-system-deps.sh",
      );
    inbox = await startSmtp();
    server = await startTestServer({ now: clock.now, env: { SMTP_URL: inbox.url } });
  });
  afterEach(async () => {
    await terminal?.close();
    terminal = null;
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
    await inbox?.close();
  });

  const api = () => client(server.url);
  const open = async (m: Machine, args: string[]) => {
    terminal = new Terminal();
    await terminal.start(args, m.env({ TERM: "xterm-256color" }));
    return terminal;
  };
  const signup = async () => {
    const email = uniqueEmail("tty-pw");
    expect((await api().post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api().post("/v1/auth/login", { email, password: PASSWORD });
    const m = new Machine(server.url);
    machines.push(m);
    return { email, m, login: login.body, token: login.body.access_token as string };
  };

  it("password change asks for the current and the new password twice, echoing none", async () => {
    const { m, login, email } = await signup();
    m.adopt(login);
    const differ = await open(m, ["password", "change"]);
    await differ.expect(/Current password:\s*$/m);
    await differ.type(PASSWORD);
    await differ.expect(/New password:\s*$/m);
    await differ.type(NEW_PASSWORD);
    await differ.expect(/Repeat the new password:\s*$/m);
    await differ.type(`${NEW_PASSWORD}-typo`);
    expect(await differ.exitCode()).toBe(2);
    expect(await differ.screen()).toContain("the two new passwords differ");
    await differ.close();

    const tty = await open(m, ["password", "change"]);
    await tty.expect(/Current password:\s*$/m);
    await tty.type(PASSWORD);
    await tty.expect(/New password:\s*$/m);
    await tty.type(NEW_PASSWORD);
    await tty.expect(/Repeat the new password:\s*$/m);
    await tty.type(NEW_PASSWORD);
    expect(await tty.exitCode()).toBe(0);
    const screen = await tty.screen();
    expect(screen).toContain("Password changed.");
    expect(screen).not.toContain(PASSWORD);
    expect(screen).not.toContain(NEW_PASSWORD);
    const relogin = await api().post("/v1/auth/login", { email, password: NEW_PASSWORD });
    expect(relogin.status).toBe(200);
  });

  it("reset-confirm of a 2FA account asks for the code after the new password", async () => {
    const { m, email, token } = await signup();
    const setup = await api().post("/v1/auth/2fa/setup", undefined, { token });
    const secret = setup.body.secret as string;
    clock.step();
    const verify = await api().post(
      "/v1/auth/2fa/verify",
      { code: totp(secret, clock.ms) },
      { token },
    );
    expect(verify.status).toBe(200);
    clock.step();
    expect((await api().post("/v1/auth/password/reset", { email })).status).toBe(202);
    const resetToken = tokenIn(await inbox.waitFor(email, /reset your password/i));

    const tty = await open(m, ["password", "reset-confirm", "--token", resetToken]);
    await tty.expect(/New password:\s*$/m);
    await tty.type(NEW_PASSWORD);
    await tty.expect(/Repeat the new password:\s*$/m);
    await tty.type(NEW_PASSWORD);
    await tty.expect(/Two-factor code \(or a backup code\):\s*$/m);
    await tty.type(totp(secret, clock.ms));
    expect(await tty.exitCode()).toBe(0);
    expect(await tty.screen()).toContain("Password reset");
  });
});
