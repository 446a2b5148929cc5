/**
 * TOTP (RFC 6238) over HOTP (RFC 4226), and backup codes. Pure: the time, the secret
 * bytes and the randomness come in as arguments. HOTP itself is the `otpauth` library's.
 */
import { HOTP, Secret } from "otpauth";

/** What every authenticator app reads by default (SPEC §3). */
export const TOTP_ALGORITHM = "SHA1";
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps of clock skew accepted on either side. */
export const TOTP_SKEW_STEPS = 1;
export const TOTP_SECRET_BYTES = 20;

export interface TotpOptions {
  digits?: number;
  periodSeconds?: number;
  algorithm?: "SHA1" | "SHA256" | "SHA512";
}

function toSecret(key: Uint8Array): Secret {
  // A copy, so a pooled Buffer's neighbouring bytes never become part of the key.
  return new Secret({ buffer: Uint8Array.from(key).buffer });
}

/** The RFC 6238 time step (counter) that `nowMs` falls in. */
export function timeStep(nowMs: number, periodSeconds = TOTP_PERIOD_SECONDS): number {
  if (!Number.isFinite(nowMs) || nowMs < 0)
    throw new TypeError("time must be a non-negative number");
  return Math.floor(nowMs / 1000 / periodSeconds);
}

/** Milliseconds until the step containing `nowMs` ends. */
export function msLeftInStep(nowMs: number, periodSeconds = TOTP_PERIOD_SECONDS): number {
  const periodMs = periodSeconds * 1000;
  return periodMs - (nowMs % periodMs);
}

/** RFC 4226 HOTP value for one counter. */
export function generateHotp(
  key: Uint8Array,
  counter: number,
  options: Pick<TotpOptions, "digits" | "algorithm"> = {},
): string {
  if (!Number.isSafeInteger(counter) || counter < 0)
    throw new TypeError("counter must be a non-negative integer");
  return HOTP.generate({
    secret: toSecret(key),
    counter,
    digits: options.digits ?? TOTP_DIGITS,
    algorithm: options.algorithm ?? TOTP_ALGORITHM,
  });
}

/** RFC 6238 TOTP value at `nowMs`. */
export function generateTotp(key: Uint8Array, nowMs: number, options: TotpOptions = {}): string {
  return generateHotp(key, timeStep(nowMs, options.periodSeconds), options);
}

/**
 * The time step whose code `code` is, within `skew` steps of `nowMs`, or null.
 * Returning the step (not a boolean) lets the caller refuse a replayed step.
 */
export function matchTotpStep(
  key: Uint8Array,
  code: string,
  nowMs: number,
  options: TotpOptions & { skew?: number } = {},
): number | null {
  const digits = options.digits ?? TOTP_DIGITS;
  if (code.length !== digits || !/^[0-9]+$/.test(code)) return null;
  const step = timeStep(nowMs, options.periodSeconds);
  const delta = HOTP.validate({
    token: code,
    secret: toSecret(key),
    counter: step,
    window: options.skew ?? TOTP_SKEW_STEPS,
    digits,
    algorithm: options.algorithm ?? TOTP_ALGORITHM,
  });
  if (delta === null || step + delta < 0) return null;
  return step + delta;
}

// RFC 4648 base32, upper case, no padding: the alphabet authenticator apps expect.
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function encodeBase32(bytes: Uint8Array, alphabet = BASE32): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

/** Decodes RFC 4648 base32 (case, spaces and padding ignored); null when not base32. */
export function decodeBase32(text: string): Uint8Array | null {
  const clean = text.replace(/[\s=]/g, "").toUpperCase();
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of clean) {
    const value = BASE32.indexOf(char);
    if (value < 0) return null;
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  return Uint8Array.from(out);
}

/** `otpauth://totp/Issuer:email?secret=…&issuer=Issuer` (SPEC §3), the key URI apps scan. */
export function totpKeyUri(issuer: string, account: string, secretBase32: string): string {
  // '@' is legal in a URI path and query; keeping it makes the label read as the email.
  const e = (text: string) => encodeURIComponent(text).replaceAll("%40", "@");
  return `otpauth://totp/${e(issuer)}:${e(account)}?secret=${secretBase32}&issuer=${e(issuer)}`;
}

// Backup codes: Crockford's base32 (no I, L, O, U), so a code copied from paper by
// hand survives the usual misreadings. 12 characters = 60 bits, shown as three groups of four.
const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";
export const BACKUP_CODE_COUNT = 10;
export const BACKUP_CODE_LENGTH = 12;
export const BACKUP_CODE_BITS = BACKUP_CODE_LENGTH * 5;
const BACKUP_CODE_BYTES = Math.ceil(BACKUP_CODE_BITS / 8);

/** One backup code from `random` (at least 8 bytes); only the first 60 bits are used. */
export function formatBackupCode(random: Uint8Array): string {
  if (random.length < BACKUP_CODE_BYTES)
    throw new TypeError(`a backup code needs ${BACKUP_CODE_BYTES} random bytes`);
  const chars = encodeBase32(random.subarray(0, BACKUP_CODE_BYTES), CROCKFORD).slice(
    0,
    BACKUP_CODE_LENGTH,
  );
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
}

/**
 * The canonical form that is hashed and compared: lower case, separators dropped,
 * Crockford's look-alikes mapped (i, l → 1; o → 0). Null when it cannot be a backup code.
 */
export function normalizeBackupCode(input: string): string | null {
  const canonical = input
    .toLowerCase()
    .replace(/[\s-]/g, "")
    .replace(/[il]/g, "1")
    .replace(/o/g, "0");
  if (canonical.length !== BACKUP_CODE_LENGTH) return null;
  for (const char of canonical) if (!CROCKFORD.includes(char)) return null;
  return canonical;
}

/** A 6-digit string is a TOTP code; anything else offered as `code` is tried as a backup code. */
export function looksLikeTotpCode(code: string): boolean {
  return /^[0-9]{6}$/.test(code.trim());
}
