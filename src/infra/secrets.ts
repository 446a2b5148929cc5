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
import { envRing, fileRing, type MasterKeyRing } from "./master-keys.js";

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
  /** The master-key ring as loaded at start (the box re-reads a files ring as it changes). */
  masterKeys: MasterKeyRing;
  signing: SigningKeySet;
}

const SIGNING_FILE = "signing-keys.json";

function writeSecretFile(path: string, contents: string): void {
  writeFileSync(path, contents, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
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
  const masterKeys = loadMasterKeys(config, { create: true });
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
  return { masterKeys, signing: { keys } };
}

/** The master-key ring of the environment (`LATCHKEY_MASTER_KEYS` / `_KEY`) or the data dir. */
export function loadMasterKeys(config: Config, options: { create?: boolean } = {}): MasterKeyRing {
  if (config.masterKeys) return envRing(config.masterKeys.values, config.masterKeys.variable);
  return fileRing(config.dataDir, options);
}

export { sha256 } from "../core/digest.js";
export { SecretBox } from "./secret-box.js";
