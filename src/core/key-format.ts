/**
 * API key format (SPEC §4): `<brand>_<live|test>_` + 43 base62 characters (32 random
 * bytes) + a 6-character base62 CRC-32 (IEEE) of everything before it.
 * Pure: randomness and CRC come from the caller-independent helpers below.
 */
export type Environment = "live" | "test";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const BODY_LENGTH = 43;
export const CHECKSUM_LENGTH = 6;
export const DISPLAY_PREFIX_LENGTH = 12;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as zlib computes it) of the UTF-8 bytes of `text`. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // Keys are ASCII: hash char codes directly, skipping UTF-8 encoding on the hot path.
    if (code >= 0x80) return crc32Bytes(new TextEncoder().encode(text));
    crc = CRC_TABLE[(crc ^ code) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function crc32Bytes(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Big-endian base62 of an unsigned integer, left-padded with `0` to `width`. */
export function base62(value: number | bigint, width: number): string {
  let out = "";
  if (typeof value === "number") {
    // Checksums fit in 32 bits: plain number arithmetic, no BigInt on the hot path.
    if (!Number.isSafeInteger(value) || value < 0)
      throw new TypeError("base62 needs a non-negative integer");
    for (let n = value; n > 0; n = Math.floor(n / 62)) out = ALPHABET[n % 62] + out;
  } else {
    for (let n = value; n > 0n; n /= 62n) out = ALPHABET[Number(n % 62n)] + out;
  }
  return out.padStart(width, "0");
}

/** 32 bytes as exactly 43 base62 characters. */
export function encodeBody(bytes: Uint8Array): string {
  if (bytes.length !== 32) throw new TypeError("key body needs exactly 32 random bytes");
  let n = 0n;
  for (const byte of bytes) n = (n << 8n) | BigInt(byte);
  return base62(n, BODY_LENGTH);
}

export function checksum(text: string): string {
  return base62(crc32(text), CHECKSUM_LENGTH);
}

export function formatKey(brand: string, environment: Environment, random: Uint8Array): string {
  const head = `${brand}_${environment}_${encodeBody(random)}`;
  return head + checksum(head);
}

export interface ParsedKey {
  brand: string;
  environment: Environment;
}

const BRAND = /^[a-z][a-z0-9]{0,15}$/;
const TAIL = BODY_LENGTH + CHECKSUM_LENGTH;

/** The base62 digit of a char code, or -1. */
function digit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 65 && code <= 90) return code - 55; // A-Z
  if (code >= 97 && code <= 122) return code - 61; // a-z
  return -1;
}

/**
 * Checks a string is a well-formed key whose checksum matches, offline — what a leak
 * scanner needs. Returns null for anything else. `brand` restricts the accepted brand.
 * On every verification: one pass over the characters, no split, no string built.
 */
export function parseKey(candidate: string, brand?: string): ParsedKey | null {
  if (typeof candidate !== "string" || candidate.length > 128) return null;
  const first = candidate.indexOf("_");
  if (first < 1) return null;
  const second = candidate.indexOf("_", first + 1);
  if (second < 0 || candidate.length - second - 1 !== TAIL) return null;
  const keyBrand = candidate.slice(0, first);
  if (!BRAND.test(keyBrand) || (brand !== undefined && keyBrand !== brand)) return null;
  const environment = candidate.slice(first + 1, second);
  if (environment !== "live" && environment !== "test") return null;
  // CRC-32 of everything before the checksum (ASCII: brand, env and body are checked to be).
  let crc = 0xffffffff;
  const end = candidate.length - CHECKSUM_LENGTH;
  for (let i = 0; i < end; i++) {
    const code = candidate.charCodeAt(i);
    if (i > second && digit(code) < 0) return null;
    crc = CRC_TABLE[(crc ^ code) & 0xff]! ^ (crc >>> 8);
  }
  crc = (crc ^ 0xffffffff) >>> 0;
  let written = 0;
  for (let i = end; i < candidate.length; i++) {
    const d = digit(candidate.charCodeAt(i));
    if (d < 0) return null;
    written = written * 62 + d;
  }
  if (written !== crc) return null;
  return { brand: keyBrand, environment };
}

/** True when `candidate` is a real-looking key of any brand (valid checksum). */
export function isWellFormedKey(candidate: string, brand?: string): boolean {
  return parseKey(candidate, brand) !== null;
}

export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

/** Whether a bearer credential looks like a JWT (three base64url parts) rather than an API key. */
export function looksLikeJwt(token: string): boolean {
  return token.startsWith("eyJ") && token.split(".").length === 3;
}
