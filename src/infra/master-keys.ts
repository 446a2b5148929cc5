/**
 * The master-key ring: every key that may still open a sealed value or check a backup-code
 * hash, newest (the one that seals) first. From `LATCHKEY_MASTER_KEYS` (comma-separated,
 * newest first; `LATCHKEY_MASTER_KEY` is a ring of one) or from the data dir's key files:
 * `master.key` is version 1 (the key of every install before the ring), `master.key.2`,
 * `master.key.3` … the later ones; the highest version seals.
 *
 * A key's id is a fingerprint, the first 8 hex digits of HMAC-SHA-256(key, "latchkey:key-id"):
 * every instance and the CLI name a key alike without a counter to keep in step, and the id
 * tells nothing about the key.
 */
import { createHmac, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  linkSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

export interface MasterKey {
  /** 8 hex digits, see above. */
  id: string;
  key: Buffer;
  /** Where it came from: the key file's path, or `LATCHKEY_MASTER_KEYS[i]`. */
  source: string;
  /** The key file's version (1 for `master.key`); null for a key from the environment. */
  version: number | null;
}

export interface MasterKeyRing {
  kind: "env" | "files";
  /** Newest first: the first seals and MACs, all open and verify. Never empty. */
  keys: readonly MasterKey[];
  /** The data dir the key files live in (the files ring). */
  dir: string | null;
}

export const MASTER_FILE = "master.key";
const FILE_PATTERN = /^master\.key(?:\.([1-9][0-9]*))?$/;

export function masterKeyId(key: Buffer): string {
  return createHmac("sha256", key).update("latchkey:key-id").digest("hex").slice(0, 8);
}

export function parseMasterKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-f]{64}$/i.test(trimmed)
    ? Buffer.from(trimmed, "hex")
    : Buffer.from(trimmed, "base64");
  if (bytes.length !== 32)
    throw new Error(`${source} must be 32 bytes (64 hex or 44 base64 characters)`);
  return bytes;
}

function checkDistinct(keys: readonly MasterKey[]): void {
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key.id))
      throw new Error(`master key ${key.id} is in the ring twice (${key.source})`);
    seen.add(key.id);
  }
}

/** A ring from `LATCHKEY_MASTER_KEYS` (or `LATCHKEY_MASTER_KEY`), newest first. */
export function envRing(values: readonly string[], variable: string): MasterKeyRing {
  if (values.length === 0) throw new Error(`${variable} holds no key`);
  const keys = values.map((text, index) => {
    const source = values.length > 1 ? `${variable}[${index}]` : variable;
    const key = parseMasterKey(text, source);
    return { id: masterKeyId(key), key, source, version: null };
  });
  checkDistinct(keys);
  return { kind: "env", keys, dir: null };
}

interface KeyFile {
  name: string;
  version: number;
}

function keyFiles(dir: string): KeyFile[] {
  const files: KeyFile[] = [];
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const match = FILE_PATTERN.exec(name);
    if (match) files.push({ name, version: match[1] ? Number(match[1]) : 1 });
  }
  return files.sort((a, b) => b.version - a.version);
}

/** What changes when a key file is added or removed: the directory's times. */
export function keyDirStamp(dir: string): string {
  try {
    const stat = statSync(dir);
    return `${stat.mtimeMs}:${stat.ctimeMs}`;
  } catch {
    return "";
  }
}

function writeNewFile(path: string, contents: string): void {
  // Written aside, then linked into place: a reader never sees half a key, and an existing
  // file is never replaced (link fails on it).
  const temp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(temp, contents, { mode: 0o600, flag: "wx" });
  chmodSync(temp, 0o600);
  try {
    linkSync(temp, path);
  } finally {
    unlinkSync(temp);
  }
}

/**
 * The ring of the data dir's key files, newest first. `create`: on a dir with no key file,
 * writes `master.key` (32 random bytes, mode 0600), as the first start always has.
 */
export function fileRing(dir: string, options: { create?: boolean } = {}): MasterKeyRing {
  let files = keyFiles(dir);
  if (files.length === 0 && options.create) {
    const path = join(dir, MASTER_FILE);
    if (!existsSync(path)) writeNewFile(path, randomBytes(32).toString("base64") + "\n");
    files = keyFiles(dir);
  }
  if (files.length === 0) throw new Error(`no master key file (${MASTER_FILE}) in ${dir}`);
  const keys = files.map(({ name, version }) => {
    const path = join(dir, name);
    const key = parseMasterKey(readFileSync(path, "utf8"), path);
    return { id: masterKeyId(key), key, source: path, version };
  });
  checkDistinct(keys);
  return { kind: "files", keys, dir };
}

/** A new key file, one version above the newest (mode 0600); the ring's new first key. */
export function addKeyFile(ring: MasterKeyRing): MasterKey {
  if (ring.kind !== "files" || !ring.dir) throw new TypeError("not a key-file ring");
  const newest = keyFiles(ring.dir)[0]?.version ?? 0;
  const version = newest + 1;
  const path = join(ring.dir, `${MASTER_FILE}.${version}`);
  const key = randomBytes(32);
  writeNewFile(path, key.toString("base64") + "\n");
  return { id: masterKeyId(key), key, source: path, version };
}

/** Deletes a retired key's file. */
export function removeKeyFile(key: MasterKey): void {
  if (key.version === null) throw new TypeError("not a key file");
  unlinkSync(key.source);
}

/** A new key for the environment ring (printed once by the CLI), with its id. */
export function newMasterKey(): { id: string; hex: string } {
  const key = randomBytes(32);
  return { id: masterKeyId(key), hex: key.toString("hex") };
}
