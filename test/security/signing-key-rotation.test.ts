import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rotateSigningKeyFile, type SigningKeyFile } from "../../src/cli/admin.js";
import { loadConfig } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/main.js";
import { signingKeysPath } from "../../src/infra/secrets.js";
import { client, signupAndLogin } from "../helpers/http.js";

const run = promisify(execFile);
const HOUR = 3_600_000;

async function start(dataDir: string, now?: () => number): Promise<RunningServer> {
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    LATCHKEY_DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
  });
  return startServer(config, { now });
}

async function cli(...args: string[]) {
  return run(process.execPath, ["bin/latchkey.js", ...args], {
    env: { ...process.env, LATCHKEY_SIGNING_KEY: "", LATCHKEY_DATA_DIR: "" },
  });
}

function readFile(dataDir: string): SigningKeyFile {
  return JSON.parse(readFileSync(signingKeysPath(dataDir), "utf8")) as SigningKeyFile;
}

describe("signing-key rotation (latchkey admin rotate-signing-key)", () => {
  let dataDir: string;
  let server: RunningServer | null = null;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), "latchkey-rotate-"));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("serves every key in the JWKS, signs with the new one and still accepts tokens of the old", async () => {
    server = await start(dataDir);
    const before = await signupAndLogin(server.url);
    const oldKid = decodeProtectedHeader(before.accessToken).kid!;
    expect((await client(server.url).get("/.well-known/jwks.json")).body.keys).toHaveLength(1);
    await server.stop();
    server = null;

    const { stdout } = await cli(
      "admin",
      "rotate-signing-key",
      "--data-dir",
      dataDir,
      "-o",
      "json",
    );
    const report = JSON.parse(stdout) as { kid: string; verifying: string[] };
    expect(report.kid).not.toBe(oldKid);
    expect(report.verifying).toEqual([oldKid]);
    expect(statSync(signingKeysPath(dataDir)).mode & 0o777).toBe(0o600);
    const file = readFile(dataDir);
    expect(file.keys.map((k) => k.kid)).toEqual([report.kid, oldKid]);
    expect(file.keys.every((k) => typeof k.d === "string" && k.crv === "Ed25519")).toBe(true);

    server = await start(dataDir);
    const api = client(server.url);
    const jwks = await api.get("/.well-known/jwks.json");
    expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).toEqual([report.kid, oldKid]);
    // Only public halves are published.
    expect(JSON.stringify(jwks.body)).not.toContain('"d"');

    // The token signed before the rotation still works, through the server and offline.
    const whoOld = await api.get("/v1/auth/whoami", { token: before.accessToken });
    expect(whoOld.status).toBe(200);
    expect(whoOld.body.user_id).toBe(before.userId);
    const set = createLocalJWKSet(jwks.body);
    await expect(jwtVerify(before.accessToken, set)).resolves.toBeTruthy();

    // New tokens carry the new kid and verify offline against the same JWKS.
    const login = await api.post("/v1/auth/login", {
      email: before.email,
      password: "a-long-and-unusual-passphrase",
    });
    expect(login.status).toBe(200);
    expect(decodeProtectedHeader(login.body.access_token).kid).toBe(report.kid);
    await expect(jwtVerify(login.body.access_token, set)).resolves.toBeTruthy();
    expect((await api.get("/v1/auth/whoami", { token: login.body.access_token })).status).toBe(200);

    // A refresh after the rotation hands out a token under the new key too.
    const refreshed = await api.post("/v1/auth/refresh", { refresh_token: before.refreshToken });
    expect(refreshed.status).toBe(200);
    expect(decodeProtectedHeader(refreshed.body.access_token).kid).toBe(report.kid);
    await server.stop();
    server = null;
  });

  it("prunes a retired key only once every token it signed has expired", async () => {
    const file = signingKeysPath(dataDir);
    const initial = readFile(dataDir);
    const signing = initial.keys[0]!.kid!;
    const retiredAt = initial.retired_at!;
    const [oldKid] = Object.keys(retiredAt);
    const at = retiredAt[oldKid!]!;

    const early = await rotateSigningKeyFile({
      file,
      prune: true,
      accessTtlMs: HOUR,
      now: at + HOUR - 1,
    });
    expect(early.pruned).toEqual([]);
    expect(early.verifying).toContain(oldKid);

    const late = await rotateSigningKeyFile({
      file,
      prune: true,
      accessTtlMs: HOUR,
      now: at + HOUR,
    });
    expect(late.pruned).toContain(oldKid);
    // Keys retired less than an hour ago are kept.
    expect(late.verifying).toEqual([early.kid, signing]);
    const after = readFile(dataDir);
    expect(after.keys.map((k) => k.kid)).toEqual([late.kid, early.kid, signing]);
    expect(Object.keys(after.retired_at!).sort()).toEqual([early.kid, signing].sort());
  });

  it("refuses a token whose key was pruned, with token_invalid", async () => {
    const other = mkdtempSync(join(tmpdir(), "latchkey-rotate-"));
    try {
      let clock = Date.now();
      let s = await start(other, () => clock);
      const user = await signupAndLogin(s.url);
      await s.stop();
      const rotated = await rotateSigningKeyFile({
        file: signingKeysPath(other),
        prune: false,
        accessTtlMs: HOUR,
        now: clock,
      });
      const pruned = await rotateSigningKeyFile({
        file: signingKeysPath(other),
        prune: true,
        accessTtlMs: HOUR,
        now: clock + HOUR,
      });
      expect(pruned.pruned).toHaveLength(1);
      expect(pruned.verifying).toEqual([rotated.kid]);
      clock += 10 * 60_000; // still inside the token's hour, so only the missing key refuses it
      s = await start(other, () => clock);
      const reply = await client(s.url).get("/v1/auth/whoami", { token: user.accessToken });
      await s.stop();
      expect(reply.status).toBe(401);
      expect(reply.body.error.code).toBe("token_invalid");
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("fails with a message, not a stack, when there is no key file", async () => {
    const empty = mkdtempSync(join(tmpdir(), "latchkey-rotate-"));
    try {
      await expect(cli("admin", "rotate-signing-key", "--data-dir", empty)).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining("no signing-key file"),
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
