/**
 * Step-up in the CLI (SPEC §9): on `reauthentication_required` the CLI asks for the password
 * (and a 2FA code), reauthenticates, stores the fresh access token and retries once; in
 * scripts `--password-stdin` / `--code` supply them, or it exits 3 saying what to pass.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { Machine, Terminal, testClock, totp } from "./support.js";

const STALE = 10 * 60_000 + 1_000;

describe.sequential("latchkey step-up", { timeout: 90_000 }, () => {
  let server: TestServer;
  const clock = testClock();
  const machines: Machine[] = [];
  let terminal: Terminal | null = null;

  beforeAll(async () => {
    server = await startTestServer({ now: clock.now, env: { LATCHKEY_DEFAULT_PLAN: "pro" } });
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
  const keyNames = async (token: string) =>
    ((await api().get("/v1/api-keys", { token })).body.api_keys as { name: string }[]).map(
      (k) => k.name,
    );

  /** A signed-in user on a machine of their own; with `twoFactor`, 2FA on (and signed in with it). */
  const user = async (twoFactor = false) => {
    const email = uniqueEmail("step-up");
    expect((await api().post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    let login = await api().post("/v1/auth/login", { email, password: PASSWORD });
    let secret = "";
    if (twoFactor) {
      const token = login.body.access_token as string;
      secret = (await api().post("/v1/auth/2fa/setup", undefined, { token })).body.secret;
      clock.step();
      const verify = { code: totp(secret, clock.ms) };
      expect((await api().post("/v1/auth/2fa/verify", verify, { token })).status).toBe(200);
      clock.step();
      login = await api().post("/v1/auth/login", {
        email,
        password: PASSWORD,
        code: totp(secret, clock.ms),
      });
    }
    expect(login.status).toBe(200);
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    return { m, email, secret, token: login.body.access_token as string };
  };

  it("exits 3 without a terminal or --password-stdin, saying what to pass; nothing is created", async () => {
    const { m, token } = await user();
    clock.advance(STALE);
    const result = await m.run(["token", "create", "deploy", "--scope", "services:write"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("confirm your password");
    expect(result.stderr).toContain("--password-stdin");
    expect(await keyNames(token)).toEqual([]);
  });

  it("reauthenticates with --password-stdin, stores the fresh token, keeps the refresh token, retries once", async () => {
    const { m, token } = await user();
    clock.advance(STALE);
    const before = m.credentials();
    const result = await m.run(
      ["token", "create", "deploy", "--scope", "services:write", "--password-stdin", "-o", "json"],
      { input: `${PASSWORD}\n` },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ name: "deploy", scopes: ["services:write"] });
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    const after = m.credentials();
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.refresh_token).toBe(before.refresh_token);
    expect(await keyNames(token)).toEqual(["deploy"]);
    // The stored token is fresh: the next sensitive command needs nothing more.
    const again = await m.run(["token", "create", "deploy-2", "--scope", "services:write"]);
    expect(again.code, again.stderr).toBe(0);
  });

  it("with 2FA on, needs --code too, and a wrong password exits 3", async () => {
    const { m, secret, token } = await user(true);
    clock.advance(STALE);
    const args = ["token", "create", "ci", "--scope", "keys:write", "--password-stdin"];
    const noCode = await m.run(args, { input: PASSWORD });
    expect(noCode.code).toBe(3);
    expect(noCode.stderr).toContain("a code is needed too");
    const wrong = await m.run([...args, "--code", totp(secret, clock.ms)], { input: "nope-nope" });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("invalid_credentials");
    clock.step();
    const ok = await m.run([...args, "--code", totp(secret, clock.ms)], { input: PASSWORD });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await keyNames(token)).toEqual(["ci"]);
  });

  it("auth reauthenticate confirms ahead of 2fa disable, which then takes its own code", async () => {
    const { m, secret, token } = await user(true);
    clock.advance(STALE);
    const stale = await m.run(["2fa", "disable", "--code", totp(secret, clock.ms)]);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain("latchkey auth reauthenticate");
    clock.step();
    const confirm = await m.run(
      [
        "auth",
        "reauthenticate",
        "--password-stdin",
        "--code",
        totp(secret, clock.ms),
        "-o",
        "json",
      ],
      { input: PASSWORD },
    );
    expect(confirm.code, confirm.stderr).toBe(0);
    expect(JSON.parse(confirm.stdout)).toMatchObject({ reauthenticated: true });
    clock.step();
    const off = await m.run(["2fa", "disable", "--code", totp(secret, clock.ms)]);
    expect(off.code, off.stderr).toBe(0);
    expect((await api().get("/v1/auth/2fa/status", { token })).body.enabled).toBe(false);
  });

  it("on a terminal with 2FA on, asks for the password, then the code, and retries", async () => {
    if (!(await Terminal.isAvailable()))
      throw new Error("tmux is required: scripts/install-system-deps.sh");
    const { m, token, secret } = await user(true);
    clock.advance(STALE);
    terminal = new Terminal();
    await terminal.start(
      ["token", "create", "tty-2fa", "--scope", "*"],
      m.env({ TERM: "xterm-256color" }),
    );
    await terminal.expect(/Password:\s*$/m);
    await terminal.type(PASSWORD);
    await terminal.expect(/Two-factor code \(or a backup code\):\s*$/m);
    clock.step();
    await terminal.type(totp(secret, clock.ms));
    expect(await terminal.exitCode()).toBe(0);
    expect(await keyNames(token)).toEqual(["tty-2fa"]);
  });

  it("password change confirms with the current password it read, asking nothing more", async () => {
    const { m, email } = await user();
    clock.advance(STALE);
    const changed = await m.run(["password", "change", "--password-stdin"], {
      input: `${PASSWORD}\nan-entirely-new-passphrase\n`,
    });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain("Password changed.");
    const relogin = await api().post("/v1/auth/login", {
      email,
      password: "an-entirely-new-passphrase",
    });
    expect(relogin.status).toBe(200);
  });

  it("on a terminal, asks for the password (hidden) and retries the command", async () => {
    if (!(await Terminal.isAvailable()))
      throw new Error("tmux is required: scripts/install-system-deps.sh");
    const { m, token } = await user();
    clock.advance(STALE);
    terminal = new Terminal();
    await terminal.start(
      ["token", "create", "from-tty", "--scope", "services:write"],
      m.env({ TERM: "xterm-256color" }),
    );
    await terminal.expect(/confirm it is you[\s\S]*Password:\s*$/m);
    await terminal.type(PASSWORD);
    expect(await terminal.exitCode()).toBe(0);
    const screen = await terminal.screen();
    expect(screen).toContain("from-tty");
    expect(screen).not.toContain(PASSWORD);
    expect(await keyNames(token)).toEqual(["from-tty"]);
  });
});

describe("latchkey after the RFC 9068 upgrade", { timeout: 60_000 }, () => {
  let server: TestServer;
  const machines: Machine[] = [];
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
  });

  it("refreshes a stored access token from before the upgrade (typ JWT) instead of failing", async () => {
    const { SignJWT, decodeJwt } = await import("jose");
    const api = client(server.url);
    const email = uniqueEmail("upgrade");
    await api.post("/v1/auth/signup", { email, password: PASSWORD });
    const login = (await api.post("/v1/auth/login", { email, password: PASSWORD })).body;
    const key = server.services.deps.secrets.signing.keys[0]!;
    const {
      aud: _a,
      auth_time: _t,
      jti: _j,
      client_id: _c,
      ...legacy
    } = decodeJwt(login.access_token);
    const old = await new SignJWT(legacy)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
      .sign(key.privateKey);
    expect((await api.get("/v1/auth/whoami", { token: old })).body.error.code).toBe(
      "token_invalid",
    );
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt({ ...login, access_token: old });
    const who = await m.run(["whoami", "-o", "json"]);
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout).email).toBe(email);
    expect(m.credentials().access_token).not.toBe(old);
  });
});
