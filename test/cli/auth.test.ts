import { createServer, type Server, type Socket } from "node:net";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { Machine, modeOf, testClock } from "./support.js";

/** A TCP server that accepts and never answers, to time the CLI out against. */
function silentServer(): Promise<{ url: string; close: () => Promise<void> }> {
  return new Promise((done) => {
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => sockets.add(socket));
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as { port: number };
      done({
        url: `http://127.0.0.1:${address.port}`,
        close: () =>
          new Promise((closed) => {
            for (const s of sockets) s.destroy();
            server.close(() => closed());
          }),
      });
    });
  });
}

/** A port nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const silent = await silentServer();
  await silent.close();
  return silent.url;
}

// Most commands run in-process (runCli); the cases about the process boundary run the real
// binary, and a busy 2-core machine needs more than the default 30 s for those.
describe("latchkey login, whoami, logout", { timeout: 90_000 }, () => {
  let server: TestServer;
  const clock = testClock();
  const machines: Machine[] = [];

  const machine = (extraEnv: Record<string, string> = {}) => {
    const m = new Machine(server.url, extraEnv);
    machines.push(m);
    return m;
  };

  const signup = async () => {
    const email = uniqueEmail("cli");
    const reply = await client(server.url).post("/v1/auth/signup", { email, password: PASSWORD });
    expect(reply.status).toBe(201);
    return email;
  };

  /** A machine with a stored session, set up over HTTP (the login command has its own tests). */
  const loggedIn = async () => {
    const email = await signup();
    const reply = await client(server.url).post("/v1/auth/login", { email, password: PASSWORD });
    expect(reply.status).toBe(200);
    const m = machine();
    m.adopt(reply.body);
    return { m, email };
  };

  beforeAll(async () => {
    server = await startTestServer({ now: clock.now });
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
  });

  describe.concurrent("with the clock still", () => {
    it("logs in with --password-stdin and keeps the session in a 0600 file inside a 0700 folder", async () => {
      const email = await signup();
      const m = machine();
      // The real binary: the password arrives on a pipe, the session lands in a file on disk.
      const result = await m.spawn(["login", "--email", email, "--password-stdin"], {
        input: `${PASSWORD}\n`,
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`Logged in to ${server.url} as ${email}`);
      expect(modeOf(m.credentialsDir)).toBe(0o700);
      expect(modeOf(m.credentialsFile)).toBe(0o600);
      const stored = m.credentials();
      expect(stored).toMatchObject({ api_url: server.url, type: "session" });
      expect(stored.access_token).toMatch(/^ey/);
      expect(stored.refresh_token).toMatch(/^lkr_/);
      expect(Date.parse(stored.expires_at)).toBeGreaterThan(Date.now() + 50 * 60_000);
      // Neither the password nor the tokens are printed.
      for (const secret of [PASSWORD, stored.access_token, stored.refresh_token])
        expect(result.stdout + result.stderr).not.toContain(secret);
      expect(JSON.stringify(stored)).not.toContain(PASSWORD);

      const who = await m.run(["whoami"]);
      expect(who.code, who.stderr).toBe(0);
      expect(who.stdout).toMatch(new RegExp(`Email\\s+${email.replace(/[.]/g, "\\.")}`));
      expect(who.stdout).toMatch(/Credential\s+session \(password\)/);
      expect(who.stdout).toMatch(/Scopes\s+.*keys:write/s);
      expect(who.stdout).not.toContain("\u001b["); // not a terminal: no colour
    });

    it("prints only JSON with -o json, for login and whoami", async () => {
      const email = await signup();
      const m = machine();
      const login = await m.json(["login", "--email", email, "--password-stdin"], {
        input: PASSWORD,
      });
      expect(login).toMatchObject({ logged_in: true, email, api_url: server.url });
      expect(JSON.stringify(login)).not.toContain(m.credentials().access_token);
      const who = await m.json(["whoami"]);
      expect(who).toMatchObject({
        email,
        credential_type: "session",
        credential_source: "file",
        api_url: server.url,
        role: "owner",
        key_id: null,
      });
      expect(who.scopes).toEqual(expect.arrayContaining(["keys:read", "keys:write"]));

      // Logging in again replaces the stored session and ends the old one on the server.
      const first = m.credentials().access_token;
      await m.json(["login", "--email", email, "--password-stdin"], { input: PASSWORD });
      expect(m.credentials().access_token).not.toBe(first);
      expectError(
        await client(server.url).get("/v1/auth/whoami", { token: first }),
        401,
        "token_invalid",
      );
    });

    it("exits 3 on a wrong password and stores nothing", async () => {
      const email = await signup();
      const m = machine();
      const result = await m.run(["login", "--email", email, "--password-stdin"], {
        input: "not-the-password-at-all",
      });
      expect(result.code).toBe(3);
      expect(result.stderr).toContain("invalid_credentials");
      expect(result.stdout).toBe("");
      expect(m.hasCredentials()).toBe(false);
    });

    it("exits 3 with a hint when not logged in", async () => {
      const result = await machine().run(["whoami", "-o", "json"]);
      expect(result.code).toBe(3);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(`not logged in to ${server.url}`);
      expect(result.stderr).toContain("latchkey login");
    });

    it("logs out: ends the session on the server and removes the file", async () => {
      const { m } = await loggedIn();
      const { access_token } = m.credentials();
      const result = await m.json(["logout"]);
      expect(result).toMatchObject({ logged_out: true, session_ended: true });
      expect(m.hasCredentials()).toBe(false);
      const after = await client(server.url).get("/v1/auth/whoami", { token: access_token });
      expectError(after, 401, "token_invalid");
      const again = await m.run(["logout"]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain("Not logged in");
    });

    it("uses LATCHKEY_TOKEN over the stored login and never writes it to disk", async () => {
      const other = await signup();
      const login = await client(server.url).post("/v1/auth/login", {
        email: other,
        password: PASSWORD,
      });
      const token = login.body.access_token as string;
      const fresh = machine({ LATCHKEY_TOKEN: token });
      const who = await fresh.json(["whoami"]);
      expect(who).toMatchObject({ email: other, credential_source: "env" });
      expect(fresh.hasCredentials()).toBe(false);

      const { m } = await loggedIn();
      const stored = m.credentials();
      const withEnv = await m.json(["whoami"], { env: { LATCHKEY_TOKEN: token } });
      expect(withEnv.email).toBe(other);
      expect(m.credentials()).toEqual(stored);
      // A bad LATCHKEY_TOKEN fails; it does not fall back to the file.
      const bad = await m.run(["whoami"], { env: { LATCHKEY_TOKEN: "lk_live_nope" } });
      expect(bad.code).toBe(3);
    });

    it("never sends stored credentials to another server", async () => {
      const { m } = await loggedIn();
      const elsewhere = await closedPortUrl();
      const result = await m.run(["whoami", "--api-url", elsewhere]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(`the stored credentials are for ${server.url}`);
    });

    it("logs out locally when the server is unreachable, says so, and exits 4", async () => {
      const offline = new Machine(await closedPortUrl());
      machines.push(offline);
      offline.adopt({ access_token: "eyJ.x.y", refresh_token: "lkr_x", expires_in: 3600 });
      const result = await offline.run(["logout"]);
      expect(result.code).toBe(4);
      expect(result.stderr).toContain("stays valid until it expires");
      expect(offline.hasCredentials()).toBe(false);
    });

    it("exits 4 when the server is unreachable or does not answer in time", async () => {
      const m = machine();
      // The real binary, so the exit code is the process's.
      const refused = await m.spawn(
        ["login", "--email", "a@example.test", "--password-stdin", "-o", "json"],
        {
          input: PASSWORD,
          env: { LATCHKEY_URL: await closedPortUrl() },
        },
      );
      expect(refused.code).toBe(4);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toMatch(
        /cannot reach Latchkey at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
      );

      const silent = await silentServer();
      try {
        const slow = await m.run(["whoami", "--api-url", silent.url], {
          env: { LATCHKEY_TOKEN: "lk_test_x", LATCHKEY_TIMEOUT: "1s" },
        });
        expect(slow.code).toBe(4);
        expect(slow.stderr).toContain("no answer within 1 s");
      } finally {
        await silent.close();
      }
    });

    it("exits 2 on usage errors: unknown command or flag, bad option value, no terminal to prompt", async () => {
      const m = machine();
      // The real binary for two of them: commander's exit and a stdin that is no terminal.
      const unknown = await m.spawn(["whoamii"]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("unknown command 'whoamii'");
      expect(unknown.stderr).toContain("Did you mean whoami?");
      const flag = await m.run(["token", "list", "--colour"]);
      expect(flag.code).toBe(2);
      expect(flag.stderr).toContain("unknown option '--colour'");
      const format = await m.run(["whoami", "-o", "yaml"]);
      expect(format.code).toBe(2);
      const noTty = await m.spawn(["login"]);
      expect(noTty.code).toBe(2);
      expect(noTty.stderr).toContain("--password-stdin");
      // The server's invalid_request is a usage error too.
      const invalid = await m.run(["login", "--email", "not-an-email", "--password-stdin"], {
        input: PASSWORD,
      });
      expect(invalid.code).toBe(2);
      expect(invalid.stderr).toContain("invalid_request");
      const help = await m.run(["token", "create", "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("Usage: latchkey token create [options] <name>");
    });
  });

  // These move the server clock (hours, then past the refresh lifetime): one at a time.
  describe.sequential("as time passes", () => {
    it("refreshes an access token the server calls expired, and saves the new pair", async () => {
      const { m } = await loggedIn();
      const before = m.credentials();
      clock.advance(2 * 3_600_000); // the server now sees the access token as expired
      const who = await m.json(["whoami"]);
      expect(who.credential_type).toBe("session");
      const after = m.credentials();
      expect(after.access_token).not.toBe(before.access_token);
      expect(after.refresh_token).not.toBe(before.refresh_token);
      expect(modeOf(m.credentialsFile)).toBe(0o600);
      // The old refresh token was spent by the CLI.
      const reuse = await client(server.url).post("/v1/auth/refresh", {
        refresh_token: before.refresh_token,
      });
      expectError(reuse, 401, "refresh_token_reused");
    });

    it("refreshes ahead of time when the stored expiry has passed", async () => {
      const { m } = await loggedIn();
      const before = m.credentials();
      writeFileSync(
        m.credentialsFile,
        JSON.stringify({ ...before, expires_at: new Date(Date.now() - 1000).toISOString() }),
      );
      expect((await m.run(["whoami"])).code).toBe(0);
      const after = m.credentials();
      expect(after.refresh_token).not.toBe(before.refresh_token);
      expect(Date.parse(after.expires_at)).toBeGreaterThan(Date.now());
    });

    it("lets several latchkey processes refresh at once without spending a refresh token twice", async () => {
      const { m } = await loggedIn();
      const before = m.credentials();
      writeFileSync(
        m.credentialsFile,
        JSON.stringify({ ...before, expires_at: new Date(Date.now() - 1000).toISOString() }),
      );
      // Unserialised, the second refresh would present a spent token and end the session.
      // Three real processes, so the lock file is what serialises them.
      const results = await Promise.all([1, 2, 3].map(() => m.spawn(["whoami", "-o", "json"])));
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      const check = await m.run(["whoami"]);
      expect(check.code, check.stderr).toBe(0);
      expect(m.credentials().refresh_token).not.toBe(before.refresh_token);
    });

    it("exits 3 when the session can no longer be refreshed", async () => {
      const { m } = await loggedIn();
      clock.advance(31 * 86_400_000); // past the refresh token's 30 days
      const result = await m.run(["whoami"]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain("session has ended");
    });
  });
});

describe("latchkey login inside an account's back-off", { timeout: 60_000 }, () => {
  let server: TestServer;
  let m: Machine;

  beforeAll(async () => {
    // The real clock: the command really waits retry_after (1 s here) before it retries.
    server = await startTestServer({
      env: { LATCHKEY_LOGIN_BACKOFF_AFTER: "1", LATCHKEY_LOGIN_BACKOFF_MAX: "1s" },
    });
    m = new Machine(server.url);
  });
  afterAll(async () => {
    m?.cleanup();
    await server?.close();
  });

  it("waits retry_after and signs in with the wait ticket", async () => {
    const email = uniqueEmail("cli-backoff");
    const api = client(server.url);
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    // One free failure, then someone else's attempt takes the account's next turn.
    for (const guess of ["first-wrong-guess", "second-wrong-guess"])
      expectError(
        await api.post("/v1/auth/login", { email, password: guess }),
        401,
        "invalid_credentials",
      );
    expectError(
      await api.post("/v1/auth/login", { email, password: PASSWORD }),
      429,
      "rate_limited",
    );
    await api.post("/v1/auth/login", { email, password: "third-wrong-guess" });
    const result = await m.run(["login", "--email", email, "--password-stdin"], {
      input: PASSWORD,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/waiting \d+ s/);
    expect(m.hasCredentials()).toBe(true);
  });
});
