import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  importPKCS8,
  type CryptoKey,
  type JWK,
} from "jose";
import type { Config } from "../config.js";

export interface SigningKey {
  kid: string;
  alg: "EdDSA" | "ES256";
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

/** Newest first: the first key signs; all verify until removed. */
export interface SigningKeySet {
  keys: SigningKey[];
}

export interface Secrets {
  masterKey: Buffer;
  signing: SigningKeySet;
}

const SIGNING_FILE = "signing-keys.json";
const MASTER_FILE = "master.key";

function writeSecretFile(path: string, contents: string): void {
  writeFileSync(path, contents, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
}

function parseMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-f]{64}$/i.test(trimmed)
    ? Buffer.from(trimmed, "hex")
    : Buffer.from(trimmed, "base64");
  if (bytes.length !== 32)
    throw new Error("LATCHKEY_MASTER_KEY must be 32 bytes (64 hex or 44 base64 chars)");
  return bytes;
}

async function toSigningKey(jwk: JWK): Promise<SigningKey> {
  const alg = jwk.crv === "P-256" ? "ES256" : "EdDSA";
  const privateKey = (await importJWK(jwk, alg)) as CryptoKey;
  const { d: _d, ...pub } = jwk;
  const kid = jwk.kid ?? (await calculateJwkThumbprint(pub));
  const publicJwk: JWK = { ...pub, kid, alg, use: "sig" };
  const publicKey = (await importJWK(publicJwk, alg)) as CryptoKey;
  return { kid, alg, privateKey, publicKey, publicJwk };
}

export async function newSigningJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const jwk = await exportJWK(privateKey);
  const { d: _d, ...pub } = jwk;
  return { ...jwk, kid: await calculateJwkThumbprint(pub), alg: "EdDSA" };
}

async function parseSigningSecret(text: string): Promise<SigningKey[]> {
  const trimmed = text.trim();
  if (trimmed.startsWith("-----BEGIN")) {
    for (const alg of ["EdDSA", "ES256"]) {
      try {
        const key = await importPKCS8(trimmed, alg, { extractable: true });
        return [await toSigningKey(await exportJWK(key))];
      } catch {
        // not this algorithm: try the next
      }
    }
    throw new Error("LATCHKEY_SIGNING_KEY is not an Ed25519 or P-256 PKCS#8 private key");
  }
  const parsed = JSON.parse(trimmed) as JWK | { keys: JWK[] };
  const jwks = "keys" in parsed ? parsed.keys : [parsed];
  return Promise.all(jwks.map(toSigningKey));
}

export function signingKeysPath(dataDir: string): string {
  return join(dataDir, SIGNING_FILE);
}

/** Reads the secrets from the environment or the data dir, creating them (mode 0600) on first start. */
export async function loadSecrets(config: Config): Promise<Secrets> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  let masterKey: Buffer;
  if (config.masterKey) {
    masterKey = parseMasterKey(config.masterKey);
  } else {
    const path = join(config.dataDir, MASTER_FILE);
    if (!existsSync(path)) writeSecretFile(path, randomBytes(32).toString("base64") + "\n");
    masterKey = parseMasterKey(readFileSync(path, "utf8"));
  }
  let keys: SigningKey[];
  if (config.signingKey) {
    keys = await parseSigningSecret(config.signingKey);
  } else {
    const path = signingKeysPath(config.dataDir);
    if (!existsSync(path))
      writeSecretFile(path, JSON.stringify({ keys: [await newSigningJwk()] }, null, 2) + "\n");
    keys = await parseSigningSecret(readFileSync(path, "utf8"));
  }
  if (keys.length === 0) throw new Error("no JWT signing key");
  return { masterKey, signing: { keys } };
}

export { sha256 } from "../core/digest.js";

/** Authenticated encryption of small secrets (TOTP) under the master key: AES-256-GCM. */
export class SecretBox {
  private readonly key: Buffer;
  private readonly macKey: Buffer;

  constructor(masterKey: Buffer) {
    this.key = createHmac("sha256", masterKey).update("latchkey:aes-gcm:v1").digest();
    this.macKey = createHmac("sha256", masterKey).update("latchkey:hmac:v1").digest();
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return [
      "v1",
      iv.toString("base64url"),
      body.toString("base64url"),
      cipher.getAuthTag().toString("base64url"),
    ].join(".");
  }

  open(sealed: string, context: string): string {
    const [version, iv, body, tag] = sealed.split(".");
    if (version !== "v1" || !iv || body === undefined || !tag)
      throw new Error("sealed value is malformed");
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([
      decipher.update(Buffer.from(body, "base64url")),
      decipher.final(),
    ]).toString("utf8");
  }

  /** Keyed hash for low-entropy secrets (backup codes): useless offline without the master key. */
  mac(text: string): string {
    return createHmac("sha256", this.macKey).update(text).digest("hex");
  }
}
