import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { Machine, Terminal, testClock, totp, wrongCode } from "./support.js";

/**
 * Prompts on a real terminal: the binary runs inside tmux, keys are typed into it and the
 * screen is read back, as a person would see it.
 */
describe.sequential("latchkey on a terminal", { timeout: 90_000 }, () => {
  let server: TestServer;
  const clock = testClock();
  const machines: Machine[] = [];
  let terminal: Terminal | null = null;

  beforeAll(async () => {
    if (!(await Terminal.isAvailable()))
      throw new Error(
        "tmux is required for the CLI terminal tests: bash scripts/install-system-deps.sh",
      );
    server = await startTestServer({ now: clock.now });
  });
  afterEach(async () => {
    await terminal?.close();
    terminal = null;
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
  });

  const api = () => client(server.url);

  const signup = async () => {
    const email = uniqueEmail("tty");
    expect((await api().post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api().post("/v1/auth/login", { email, password: PASSWORD });
    expect(login.status).toBe(200);
    const m = new Machine(server.url);
    machines.push(m);
    return { email, m, login: login.body, token: login.body.access_token as string };
  };

  const open = async (m: Machine, args: string[], env: Record<string, string> = {}) => {
    terminal = new Terminal();
    await terminal.start(args, m.env({ TERM: "xterm-256color", ...env }));
    return terminal;
  };

  it("login asks for email, hidden password and the 2FA code, and lets a wrong code be retried", async () => {
    const { email, m, token } = await signup();
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

    const tty = await open(m, ["login"]);
    await tty.expect(/Email:\s*$/m);
    await tty.type(email);
    await tty.expect(/Password:\s*$/m);
    await tty.type(PASSWORD);
    await tty.expect(/Two-factor code \(or a backup code\):\s*$/m);
    await tty.type(wrongCode(secret, clock.ms));
    await tty.expect(/That code is not valid; try again\.\n.*Two-factor code/s);
    await tty.type(totp(secret, clock.ms));
    expect(await tty.exitCode()).toBe(0);
    const screen = await tty.screen();
    expect(screen).toContain(`Logged in to ${server.url} as ${email} (with two-factor).`);
    expect(screen).not.toContain(PASSWORD); // typed, never echoed
    expect(m.credentials()).toMatchObject({ type: "session", api_url: server.url });
  });

  it("token revoke asks to confirm on a terminal", async () => {
    const { m, login, token } = await signup();
    m.adopt(login);
    const key = await api().post("/v1/api-keys", { name: "old", scopes: ["keys:read"] }, { token });
    expect(key.status).toBe(201);

    const no = await open(m, ["token", "revoke", key.body.id]);
    await no.expect(/Revoke API key .*\[y\/N\]\s*$/m);
    await no.type("n");
    expect(await no.exitCode()).toBe(0);
    expect(await no.screen()).toContain("Not revoked.");
    await no.close();
    expect((await api().get("/v1/auth/whoami", { token: key.body.key })).status).toBe(200);

    const yes = await open(m, ["token", "revoke", key.body.id]);
    await yes.expect(/\[y\/N\]\s*$/m);
    await yes.type("y");
    expect(await yes.exitCode()).toBe(0);
    expect(await yes.screen()).toContain(`Revoked ${key.body.id}`);
    expectError(await api().get("/v1/auth/whoami", { token: key.body.key }), 401, "key_revoked");
  });

  it("colours its output on a terminal, and not with NO_COLOR", async () => {
    const { m, login } = await signup();
    m.adopt(login);
    const coloured = await open(m, ["whoami"]);
    expect(await coloured.exitCode()).toBe(0);
    expect(await coloured.screen({ escapes: true })).toContain("\u001b[");
    await coloured.close();

    const plain = await open(m, ["whoami"], { NO_COLOR: "1" });
    expect(await plain.exitCode()).toBe(0);
    const screen = await plain.screen({ escapes: true });
    expect(screen).toContain("Email");
    expect(screen).not.toContain("\u001b[");
  });
});
