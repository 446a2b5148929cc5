import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { masterKeyId } from "../../src/infra/master-keys.js";
import { enableTwoFactor } from "../http/twofa-support.js";
import { signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { Machine } from "./support.js";

const totpRows = (server: TestServer) =>
  server.db.selectFrom("totp_factors").select("secret_ciphertext").execute();

// The real binary, against the database and data dir directly (the process boundary and exit codes).
describe("latchkey admin rotate-master-key / master-keys (key files)", () => {
  let server: TestServer;
  let machine: Machine;

  beforeAll(async () => {
    server = await startTestServer();
    const user = await signupAndLogin(server.url);
    await enableTwoFactor(server.url, user.accessToken, Date.now());
    machine = new Machine(server.url, { LATCHKEY_DATA_DIR: server.dataDir });
  });
  afterAll(async () => {
    machine?.cleanup();
    await server?.close();
  });

  it("lists the ring, rotates to a new key file, re-encrypts and refuses to retire what is needed", async () => {
    const oldId = server.deps.box.sealingKeyId;
    const listed = await machine.spawn(["admin", "master-keys"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      /KEY ID\s+SOURCE\s+SEALS\s+TOTP SECRETS\s+PENDING MAIL\s+WEBHOOK SECRETS\s+BACKUP CODES/,
    );
    expect(listed.stdout).toMatch(
      new RegExp(`${oldId}\\s+master\\.key\\s+yes\\s+1\\s+0\\s+0\\s+10`),
    );

    const rotated = await machine.spawn(["admin", "rotate-master-key"]);
    expect(rotated.stderr).toBe("");
    expect(rotated.code).toBe(0);
    const file = join(server.dataDir, "master.key.2");
    const newId = masterKeyId(Buffer.from(readFileSync(file, "utf8").trim(), "base64"));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(rotated.stdout).toContain(
      `New master key ${newId} written to ${file} (mode 0600); it seals from now on.`,
    );
    expect(rotated.stdout).toContain(
      `Re-encrypted under ${newId}: 1 TOTP secret, 0 pending mails, 0 webhook secrets.`,
    );
    expect(rotated.stdout).toContain(
      `Still under ${oldId}: 0 TOTP secrets, 0 pending mails, 0 webhook secrets, 10 backup codes.`,
    );
    // No key material on the screen for a files ring.
    expect(rotated.stdout).not.toContain(readFileSync(file, "utf8").trim());
    expect((await totpRows(server))[0]!.secret_ciphertext.startsWith(`v2.${newId}.`)).toBe(true);

    const json = JSON.parse((await machine.spawn(["admin", "master-keys", "-o", "json"])).stdout);
    expect(json).toMatchObject({
      ring: "files",
      keys: [
        { id: newId, source: "master.key.2", seals: true, totp_secrets: 1, backup_codes: 0 },
        { id: oldId, source: "master.key", seals: false, totp_secrets: 0, backup_codes: 10 },
      ],
      unknown: [],
    });

    const needed = await machine.spawn(["admin", "rotate-master-key", "--retire", oldId]);
    expect(needed.code).toBe(1);
    expect(needed.stderr).toContain(
      `cannot retire: master key ${oldId} is still needed by 10 unused backup code(s)`,
    );
    const newest = await machine.spawn(["admin", "rotate-master-key", "--retire", newId]);
    expect(newest.code).toBe(1);
    expect(newest.stderr).toContain(`master key ${newId} is the newest`);
    const stranger = await machine.spawn(["admin", "rotate-master-key", "--retire", "deadbeef"]);
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain("no master key deadbeef in the ring");
    const both = await machine.spawn([
      "admin",
      "rotate-master-key",
      "--retire",
      oldId,
      "--reencrypt",
    ]);
    expect(both.code).toBe(2);
    const again = await machine.spawn(["admin", "rotate-master-key", "--reencrypt"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(
      `Re-encrypted under ${newId}: 0 TOTP secrets, 0 pending mails, 0 webhook secrets.`,
    );
    // Each operation is in the audit log, naming keys by id only.
    const audited = await server.db
      .selectFrom("audit_log")
      .select(["event", "user_id", "details"])
      .where("event", "like", "master_key_%")
      .orderBy("id")
      .execute();
    expect(audited.map((row) => row.event)).toEqual([
      "master_key_rotated",
      "master_key_reencrypted",
    ]);
    expect(JSON.parse(audited[0]!.details!)).toMatchObject({
      key_id: newId,
      sealing_key_id: newId,
      reencrypted: { totp_secrets: 1 },
    });
    expect(JSON.stringify(audited)).not.toContain(readFileSync(file, "utf8").trim());
  });
});

describe("latchkey admin rotate-master-key (LATCHKEY_MASTER_KEYS)", () => {
  const oldKey = randomBytes(32).toString("hex");
  let server: TestServer;
  let machine: Machine;

  beforeAll(async () => {
    server = await startTestServer({ env: { LATCHKEY_MASTER_KEY: oldKey } });
    const user = await signupAndLogin(server.url);
    await enableTwoFactor(server.url, user.accessToken, Date.now());
    machine = new Machine(server.url, { LATCHKEY_DATA_DIR: server.dataDir });
  });
  afterAll(async () => {
    machine?.cleanup();
    await server?.close();
  });

  it("prints the new key once and re-encrypts only when the ring holds it", async () => {
    const oldId = masterKeyId(Buffer.from(oldKey, "hex"));
    const printed = await machine.spawn(["admin", "rotate-master-key"], {
      env: { LATCHKEY_MASTER_KEY: oldKey },
    });
    expect(printed.code).toBe(0);
    const newKey = /^ {2}([0-9a-f]{64})$/m.exec(printed.stdout)?.[1];
    expect(newKey).toBeDefined();
    const newId = masterKeyId(Buffer.from(newKey!, "hex"));
    expect(printed.stdout).toContain(`New master key ${newId} — shown this once`);
    expect(printed.stdout).toContain("LATCHKEY_MASTER_KEYS=<new key>,<your LATCHKEY_MASTER_KEY>");
    expect(printed.stdout).toContain("latchkey admin rotate-master-key --reencrypt");
    // Servers do not hold it yet: nothing is sealed under it, no file is written.
    expect((await totpRows(server))[0]!.secret_ciphertext.startsWith(`v2.${oldId}.`)).toBe(true);
    expect(() => statSync(join(server.dataDir, "master.key.2"))).toThrow();

    const ring = { LATCHKEY_MASTER_KEYS: `${newKey},${oldKey}` };
    const moved = await machine.spawn(["admin", "rotate-master-key", "--reencrypt", "-o", "json"], {
      env: ring,
    });
    expect(moved.code).toBe(0);
    const report = JSON.parse(moved.stdout);
    expect(report.reencrypted).toMatchObject({ keyId: newId, totp_secrets: 1, failed: [] });
    expect(report.keys.map((k: { id: string }) => k.id)).toEqual([newId, oldId]);
    expect((await totpRows(server))[0]!.secret_ciphertext.startsWith(`v2.${newId}.`)).toBe(true);
    expect(JSON.stringify(report)).not.toContain(newKey);

    const needed = await machine.spawn(["admin", "rotate-master-key", "--retire", oldId], {
      env: ring,
    });
    expect(needed.code).toBe(1);
    expect(needed.stderr).toContain("10 unused backup code(s)");

    const json = await machine.spawn(["admin", "rotate-master-key", "-o", "json"], { env: ring });
    const made = JSON.parse(json.stdout);
    expect(made).toMatchObject({ ring: "env", key_id: masterKeyId(Buffer.from(made.key, "hex")) });

    const conflict = await machine.spawn(["admin", "master-keys"], {
      env: { ...ring, LATCHKEY_MASTER_KEY: oldKey },
    });
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain("not both");
    expect(conflict.stderr).not.toContain(oldKey);
  });
});
