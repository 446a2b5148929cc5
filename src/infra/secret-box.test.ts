import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../config.js";
import { addKeyFile, envRing, fileRing, masterKeyId, removeKeyFile } from "./master-keys.js";
import { SecretBox, UnknownMasterKeyError } from "./secret-box.js";

const OLD = randomBytes(32);
const NEW = randomBytes(32);
const ring = (...keys: Buffer[]) =>
  envRing(
    keys.map((k) => k.toString("hex")),
    "LATCHKEY_MASTER_KEYS",
  );

/** A value as every Latchkey before the ring sealed it: `v1.<iv>.<body>.<tag>`, no key id. */
function sealV1(masterKey: Buffer, plaintext: string, context: string): string {
  const key = createHmac("sha256", masterKey).update("latchkey:aes-gcm:v1").digest();
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return ["v1", iv, body, cipher.getAuthTag()].map((p) => p.toString("base64url")).join(".");
}

function macV1(masterKey: Buffer, text: string): string {
  const key = createHmac("sha256", masterKey).update("latchkey:hmac:v1").digest();
  return createHmac("sha256", key).update(text).digest("hex");
}

describe("SecretBox over a master-key ring", () => {
  it("names each key by the first 8 hex digits of HMAC(key, 'latchkey:key-id')", () => {
    const expected = createHmac("sha256", OLD).update("latchkey:key-id").digest("hex").slice(0, 8);
    expect(masterKeyId(OLD)).toBe(expected);
    expect(new SecretBox(ring(NEW, OLD)).keyIds).toEqual([masterKeyId(NEW), masterKeyId(OLD)]);
  });

  it("seals under the newest key and says so in the value", () => {
    const sealed = new SecretBox(ring(NEW, OLD)).seal("JBSWY3DP", "totp:usr_1");
    expect(sealed.startsWith(`v2.${masterKeyId(NEW)}.`)).toBe(true);
    expect(sealed.split(".")).toHaveLength(5);
    expect(sealed).not.toContain("JBSWY3DP");
    // The old key alone cannot open it.
    expect(() => new SecretBox(ring(OLD)).open(sealed, "totp:usr_1")).toThrow(
      UnknownMasterKeyError,
    );
  });

  it("opens a value sealed under an older key of the ring, bound to its context", () => {
    const sealed = new SecretBox(ring(OLD)).seal("JBSWY3DP", "totp:usr_1");
    const box = new SecretBox(ring(NEW, OLD));
    expect(box.open(sealed, "totp:usr_1")).toBe("JBSWY3DP");
    expect(() => box.open(sealed, "totp:usr_2")).toThrow();
    expect(box.keyIdOf(sealed)).toBe(masterKeyId(OLD));
  });

  it("opens unversioned v1 values of before the ring, whichever position their key has", () => {
    const legacy = sealV1(OLD, "JBSWY3DP", "mail:msg_1");
    expect(new SecretBox(OLD).open(legacy, "mail:msg_1")).toBe("JBSWY3DP");
    expect(new SecretBox(ring(NEW, OLD)).open(legacy, "mail:msg_1")).toBe("JBSWY3DP");
    expect(new SecretBox(ring(OLD, NEW)).open(legacy, "mail:msg_1")).toBe("JBSWY3DP");
    expect(() => new SecretBox(ring(NEW)).open(legacy, "mail:msg_1")).toThrow();
    expect(() => new SecretBox(ring(NEW, OLD)).open(legacy, "mail:msg_2")).toThrow();
    expect(new SecretBox(ring(NEW, OLD)).keyIdOf(legacy)).toBeNull();
    expect(new SecretBox(ring(NEW, OLD)).legacyKeyId).toBe(masterKeyId(OLD));
  });

  it("refuses a value under a key id the ring does not hold, naming the id", () => {
    const stranger = new SecretBox(randomBytes(32));
    const sealed = stranger.seal("x", "totp:usr_1");
    let error: unknown;
    try {
      new SecretBox(ring(NEW, OLD)).open(sealed, "totp:usr_1");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnknownMasterKeyError);
    expect((error as UnknownMasterKeyError).keyId).toBe(stranger.sealingKeyId);
    expect(() => new SecretBox(NEW).open("v3.abc.def", "c")).toThrow(/malformed/);
  });

  it("MACs under the newest key with its id, and checks a code under the key its hash names", () => {
    const before = new SecretBox(ring(OLD));
    const after = new SecretBox(ring(NEW, OLD));
    const oldHash = before.mac("abcdefghjk");
    expect(oldHash).toMatch(new RegExp(`^v2\\.${masterKeyId(OLD)}\\.[0-9a-f]{64}$`));
    expect(after.mac("abcdefghjk")).toMatch(new RegExp(`^v2\\.${masterKeyId(NEW)}\\.`));
    const candidates = after.macCandidates("abcdefghjk");
    expect(candidates).toContain(oldHash);
    expect(candidates).toContain(after.mac("abcdefghjk"));
    // An unversioned hash of before the ring is found too; another code's is not.
    expect(candidates).toContain(macV1(OLD, "abcdefghjk"));
    expect(candidates).not.toContain(macV1(OLD, "abcdefghjm"));
    expect(new SecretBox(ring(NEW)).macCandidates("abcdefghjk")).not.toContain(oldHash);
  });
});

describe("the data dir's key files", () => {
  let dir = "";
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("master.key is version 1, master.key.N the later ones; the highest seals", () => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-ring-"));
    const first = fileRing(dir, { create: true });
    expect(first.keys.map((k) => k.version)).toEqual([1]);
    expect(statSync(join(dir, "master.key")).mode & 0o777).toBe(0o600);
    const added = addKeyFile(first);
    expect(added.source).toBe(join(dir, "master.key.2"));
    expect(statSync(added.source).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(["master.key", "master.key.2"]);
    const second = fileRing(dir);
    expect(second.keys.map((k) => k.id)).toEqual([added.id, first.keys[0]!.id]);
    expect(addKeyFile(second).version).toBe(3);
    removeKeyFile(second.keys[1]!);
    expect(fileRing(dir).keys.map((k) => k.version)).toEqual([3, 2]);
    expect(() => fileRing(mkdtempSync(join(tmpdir(), "latchkey-ring-empty-")))).toThrow(
      /no master key file/,
    );
  });

  it("a box follows the files: seals under a key added meanwhile, opens one it has not loaded", () => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-ring-"));
    const server = new SecretBox(fileRing(dir, { create: true }));
    const oldId = server.sealingKeyId;
    // The CLI adds a key and seals under it; the server has not loaded it yet.
    const cli = new SecretBox(fileRing(dir));
    const added = addKeyFile(fileRing(dir));
    cli.reload();
    const resealed = cli.seal("JBSWY3DP", "totp:usr_1");
    expect(server.open(resealed, "totp:usr_1")).toBe("JBSWY3DP");
    expect(server.keyIds).toEqual([added.id, oldId]);
    expect(server.seal("x", "c").startsWith(`v2.${added.id}.`)).toBe(true);
    // A key file added later is used for the next seal without a reload.
    const third = addKeyFile(fileRing(dir));
    expect(server.seal("x", "c").startsWith(`v2.${third.id}.`)).toBe(true);
  });

  it("keeps sealing under the loaded ring when a broken key file appears; SIGHUP's reload reports it", () => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-ring-"));
    const box = new SecretBox(fileRing(dir, { create: true }));
    const id = box.sealingKeyId;
    writeFileSync(join(dir, "master.key.2"), "not a key\n", { mode: 0o600 });
    expect(box.seal("x", "c").startsWith(`v2.${id}.`)).toBe(true);
    expect(() => box.reload()).toThrow(/master\.key\.2 must be 32 bytes/);
    expect(box.keyIds).toEqual([id]);
  });

  it("refuses a key file that is not 32 bytes, naming the file and not its contents", () => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-ring-"));
    writeFileSync(join(dir, "master.key"), "c2hvcnQ=\n", { mode: 0o600 });
    expect(() => fileRing(dir)).toThrow(/master\.key must be 32 bytes/);
  });
});

describe("LATCHKEY_MASTER_KEYS", () => {
  const base = { LATCHKEY_DATA_DIR: "/nonexistent", LOG_LEVEL: "silent" };

  it("is a ring, newest first; LATCHKEY_MASTER_KEY a ring of one", () => {
    const keys = `${NEW.toString("hex")}, ${OLD.toString("base64")}`;
    const config = loadConfig({ ...base, LATCHKEY_MASTER_KEYS: keys });
    const parsed = envRing(config.masterKeys!.values, config.masterKeys!.variable);
    expect(parsed.keys.map((k) => k.id)).toEqual([masterKeyId(NEW), masterKeyId(OLD)]);
    const single = loadConfig({ ...base, LATCHKEY_MASTER_KEY: OLD.toString("hex") }).masterKeys;
    expect(single).toEqual({ variable: "LATCHKEY_MASTER_KEY", values: [OLD.toString("hex")] });
    expect(loadConfig({ ...base, LATCHKEY_MASTER_KEY: "" }).masterKeys).toBeUndefined();
  });

  it("refuses both variables at once, an empty entry, a key twice and a short key", () => {
    const hex = OLD.toString("hex");
    expect(() =>
      loadConfig({ ...base, LATCHKEY_MASTER_KEYS: hex, LATCHKEY_MASTER_KEY: hex }),
    ).toThrow(/not both/);
    expect(() => loadConfig({ ...base, LATCHKEY_MASTER_KEYS: `${hex},,` })).toThrow(/empty/);
    expect(() => envRing([hex, hex], "LATCHKEY_MASTER_KEYS")).toThrow(/twice/);
    expect(() => envRing([hex, "abcd"], "LATCHKEY_MASTER_KEYS")).toThrow(
      /LATCHKEY_MASTER_KEYS\[1\] must be 32 bytes/,
    );
  });
});
