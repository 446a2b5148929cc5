import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { Machine, testClock, totp, wrongCode } from "./support.js";

const BACKUP_CODE = /\b[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}\b/g;

// One shared clock, and a TOTP code is never accepted twice: these run one at a time and
// step the clock before each new code.
describe.sequential("latchkey 2fa and login with a second factor", { timeout: 90_000 }, () => {
  let server: TestServer;
  const clock = testClock();
  const machines: Machine[] = [];

  beforeAll(async () => {
    server = await startTestServer({ now: clock.now });
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
  });

  const api = () => client(server.url);

  /** A user with a stored session; with `twoFactor`, 2FA turned on over HTTP first. */
  const user = async (twoFactor = false) => {
    const email = uniqueEmail("2fa");
    expect((await api().post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api().post("/v1/auth/login", { email, password: PASSWORD });
    expect(login.status).toBe(200);
    const token = login.body.access_token as string;
    let secret = "";
    let backupCodes: string[] = [];
    if (twoFactor) {
      const setup = await api().post("/v1/auth/2fa/setup", undefined, { token });
      secret = setup.body.secret;
      clock.step();
      const verify = await api().post(
        "/v1/auth/2fa/verify",
        { code: totp(secret, clock.ms) },
        { token },
      );
      expect(verify.status).toBe(200);
      backupCodes = verify.body.backup_codes;
    }
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    return { m, email, token, secret: () => secret, backupCodes };
  };

  it("2fa enable shows a QR code and the secret, takes a code, and prints the backup codes once", async () => {
    const { m } = await user();
    clock.step();
    // The real binary, answering its prompt over a stdin pipe.
    const result = await m.spawnDialogue(
      ["2fa", "enable"],
      [{ when: /secret by hand: ([A-Z2-7]+)/, answer: (match) => totp(match[1]!, clock.ms) }],
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("Scan this QR code");
    expect(result.stdout).toMatch(/[▀▄█]{10,}/); // the terminal QR code
    expect(result.stdout).toContain("Two-factor authentication is on");
    expect(result.stdout.match(BACKUP_CODE)).toHaveLength(10);
    expect(result.stdout).toContain("shown only this once");
    const status = await m.json(["2fa", "status"]);
    expect(status).toMatchObject({ enabled: true, backup_codes_remaining: 10 });
  });

  it("2fa enable -o json talks on stderr and prints only the result on stdout", async () => {
    const { m } = await user();
    clock.step();
    const result = await m.dialogue(
      ["2fa", "enable", "-o", "json"],
      [{ when: /secret by hand: ([A-Z2-7]+)/, answer: (match) => totp(match[1]!, clock.ms) }],
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain("Scan this QR code");
    const body = JSON.parse(result.stdout);
    expect(body.enabled).toBe(true);
    expect(body.backup_codes).toHaveLength(10);
  });

  it("login with 2FA on: exit 3 without a code, in with --code or a backup code", async () => {
    const { email, secret, backupCodes } = await user(true);
    const m = new Machine(server.url);
    machines.push(m);
    const args = ["login", "--email", email, "--password-stdin"];

    const noCode = await m.run(args, { input: PASSWORD });
    expect(noCode.code).toBe(3);
    expect(noCode.stderr).toContain("--code");
    expect(m.hasCredentials()).toBe(false);

    clock.step();
    const wrong = await m.run([...args, "--code", wrongCode(secret(), clock.ms)], {
      input: PASSWORD,
    });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("invalid_mfa_code");

    const right = await m.run([...args, "--code", totp(secret(), clock.ms)], { input: PASSWORD });
    expect(right.code, right.stderr).toBe(0);
    expect(right.stdout).toContain("with two-factor");
    const who = await m.json(["whoami"]);
    expect(who.amr).toEqual(["pwd", "otp"]);

    const backup = await m.json([...args, "--code", backupCodes[0]!], { input: PASSWORD });
    expect(backup.logged_in).toBe(true);
    const status = await m.json(["2fa", "status"]);
    expect(status).toMatchObject({ enabled: true, backup_codes_remaining: 9 });
  });

  it("2fa backup-codes gives a new set and voids the old one", async () => {
    const { m, secret, backupCodes, email } = await user(true);
    clock.step();
    const fresh = await m.json(["2fa", "backup-codes", "--code", totp(secret(), clock.ms)]);
    expect(fresh.backup_codes).toHaveLength(10);
    expect(fresh.backup_codes).not.toContain(backupCodes[0]);
    const old = await m.run(
      ["login", "--email", email, "--password-stdin", "--code", backupCodes[0]!],
      {
        input: PASSWORD,
      },
    );
    expect(old.code).toBe(3);
  });

  it("2fa disable needs a code: a wrong one exits 3, one piped on stdin turns 2FA off", async () => {
    const { m, secret } = await user(true);
    clock.step();
    const wrong = await m.run(["2fa", "disable", "--code", wrongCode(secret(), clock.ms)]);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("invalid_mfa_code");
    const off = await m.run(["2fa", "disable", "-o", "json"], {
      input: `${totp(secret(), clock.ms)}\n`,
    });
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toEqual({ enabled: false });
    const status = await m.run(["2fa", "status"]);
    expect(status.stdout).toMatch(/Two-factor\s+off/);
  });

  it("refuses 2FA changes with an API key (exit 1): they need a signed-in session", async () => {
    const { token } = await user();
    const key = await api().post("/v1/api-keys", { name: "k", scopes: ["keys:read"] }, { token });
    expect(key.status).toBe(201);
    const m = new Machine(server.url, { LATCHKEY_TOKEN: key.body.key });
    machines.push(m);
    const result = await m.run(["2fa", "enable"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("forbidden");
  });
});
