import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import {
  fileRing,
  keyDirStamp,
  masterKeyId,
  type MasterKey,
  type MasterKeyRing,
} from "./master-keys.js";

interface BoxKey {
  id: string;
  aes: Buffer;
  mac: Buffer;
}

/** The format of every value sealed from now on: `v2.<key id>.<iv>.<body>.<tag>`. */
const SEALED_V2 = /^v2\.([0-9a-f]{8})\.([^.]+)\.([^.]*)\.([^.]+)$/;
/** Before the ring: `v1.<iv>.<body>.<tag>`, under the one master key of the time. */
const SEALED_V1 = /^v1\.([^.]+)\.([^.]*)\.([^.]+)$/;
const MAC_V2 = /^v2\.([0-9a-f]{8})\./;

/** A value names a key this box does not hold (not even after re-reading the key files). */
export class UnknownMasterKeyError extends Error {
  constructor(readonly keyId: string) {
    super(`the value is sealed under master key ${keyId}, which is not in the key ring`);
    this.name = "UnknownMasterKeyError";
  }
}

function boxKey(key: MasterKey): BoxKey {
  // The same two sub-keys per master key as before the ring, so v1 values still open.
  return {
    id: key.id,
    aes: createHmac("sha256", key.key).update("latchkey:aes-gcm:v1").digest(),
    mac: createHmac("sha256", key.key).update("latchkey:hmac:v1").digest(),
  };
}

function ringOfOne(masterKey: Buffer): MasterKeyRing {
  return {
    kind: "env",
    keys: [{ id: masterKeyId(masterKey), key: masterKey, source: "key", version: null }],
    dir: null,
  };
}

function decrypt(key: BoxKey, context: string, iv: string, body: string, tag: string): string {
  const decipher = createDecipheriv("aes-256-gcm", key.aes, Buffer.from(iv, "base64url"));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(Buffer.from(tag, "base64url"));
  return Buffer.concat([
    decipher.update(Buffer.from(body, "base64url")),
    decipher.final(),
  ]).toString("utf8");
}

/**
 * Authenticated encryption of small secrets (TOTP secrets, queued mail) and keyed hashes of
 * backup codes, under the master-key ring: the newest key seals and MACs, every key opens
 * and verifies, each value naming its key by id.
 *
 * A files ring follows the data dir: before sealing, the box re-reads the key files if the
 * directory changed (so a key added by `latchkey admin rotate-master-key` seals from the next
 * value on), and a value under a key it does not know makes it re-read them once (a value
 * re-sealed by the CLI opens on a server that has not seen the new file yet). SIGHUP reloads.
 */
export class SecretBox {
  private ring: MasterKeyRing;
  private keys: BoxKey[] = [];
  private stamp = "";

  constructor(ring: MasterKeyRing | Buffer) {
    this.ring = Buffer.isBuffer(ring) ? ringOfOne(ring) : ring;
    this.use(this.ring);
  }

  /** Key ids, newest (the sealing key) first. */
  get keyIds(): string[] {
    return this.keys.map((k) => k.id);
  }

  get sealingKeyId(): string {
    return this.keys[0]!.id;
  }

  /** The key unversioned (v1) values were made under: the oldest. */
  get legacyKeyId(): string {
    return this.keys.at(-1)!.id;
  }

  /** Reads the key files again (a files ring); the ids now held. */
  reload(): string[] {
    if (this.ring.kind === "files" && this.ring.dir) this.use(fileRing(this.ring.dir));
    return this.keyIds;
  }

  seal(plaintext: string, context: string): string {
    const key = this.sealingKey();
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key.aes, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return [
      "v2",
      key.id,
      iv.toString("base64url"),
      body.toString("base64url"),
      cipher.getAuthTag().toString("base64url"),
    ].join(".");
  }

  open(sealed: string, context: string): string {
    const v2 = SEALED_V2.exec(sealed);
    if (v2) {
      const [, id, iv, body, tag] = v2 as unknown as [string, string, string, string, string];
      return decrypt(this.keyById(id), context, iv, body, tag);
    }
    const v1 = SEALED_V1.exec(sealed);
    if (!v1) throw new Error("sealed value is malformed");
    const [, iv, body, tag] = v1 as unknown as [string, string, string, string];
    // Made under the one key of its time: the oldest in a ring set up as documented, but
    // every key is tried (GCM refuses a wrong one), oldest first.
    let failure: unknown;
    for (const key of [...this.keys].reverse()) {
      try {
        return decrypt(key, context, iv, body, tag);
      } catch (error) {
        failure ??= error;
      }
    }
    throw failure instanceof Error ? failure : new Error("sealed value does not open");
  }

  /** The key id a sealed value or backup-code hash names; null for an unversioned (v1) one. */
  keyIdOf(value: string): string | null {
    return MAC_V2.exec(value)?.[1] ?? null;
  }

  /** Keyed hash for low-entropy secrets (backup codes), under the sealing key: `v2.<key id>.<hex>`. */
  mac(text: string): string {
    const key = this.sealingKey();
    return `v2.${key.id}.${this.hmac(key, text)}`;
  }

  /**
   * Every stored form `text` may have: its hash under each key of the ring (as `mac` wrote
   * it), and the unversioned hex hash of before the ring. A backup code made under an old
   * key is found by the hash that names that key.
   */
  macCandidates(text: string): string[] {
    const versioned = this.keys.map((key) => `v2.${key.id}.${this.hmac(key, text)}`);
    const legacy = this.keys.map((key) => this.hmac(key, text));
    return [...versioned, ...legacy];
  }

  private hmac(key: BoxKey, text: string): string {
    return createHmac("sha256", key.mac).update(text).digest("hex");
  }

  private use(ring: MasterKeyRing): void {
    if (ring.keys.length === 0) throw new Error("the master-key ring is empty");
    this.ring = ring;
    this.keys = ring.keys.map(boxKey);
    this.stamp = ring.dir ? keyDirStamp(ring.dir) : "";
  }

  private sealingKey(): BoxKey {
    if (this.ring.kind === "files" && this.ring.dir) {
      const stamp = keyDirStamp(this.ring.dir);
      if (stamp !== this.stamp) {
        try {
          this.reload();
        } catch {
          // A broken key file must not stop signups and 2FA setups: keep sealing under the
          // ring already loaded (SIGHUP reports the error; an unknown key id retries).
          this.stamp = stamp;
        }
      }
    }
    return this.keys[0]!;
  }

  private keyById(id: string): BoxKey {
    let key = this.keys.find((k) => k.id === id);
    if (!key && this.ring.kind === "files") {
      this.reload();
      key = this.keys.find((k) => k.id === id);
    }
    if (!key) throw new UnknownMasterKeyError(id);
    return key;
  }
}
