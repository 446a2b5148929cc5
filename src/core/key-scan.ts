/**
 * Finding API keys in text (SPEC §11): every string of the key format (SPEC §4) for the
 * given brands whose checksum holds. Offline and pure: what `latchkey scan` and the leak
 * report endpoint share. Near-misses (a wrong checksum, a body one character short or long,
 * a key glued to more base62 characters) are not keys.
 */
import { BODY_LENGTH, CHECKSUM_LENGTH, parseKey, type Environment } from "./key-format.js";

/** A brand as LATCHKEY_KEY_PREFIX accepts it. */
export const BRAND_PATTERN = /^[a-z][a-z0-9]{0,15}$/;

/** The brand every install starts with. */
export const DEFAULT_BRAND = "lk";

export interface KeyMatch {
  /** The whole key: for the caller to hash or report, never to print. */
  key: string;
  brand: string;
  environment: Environment;
  /** 1-based line and column (in UTF-16 code units, as editors and SARIF count them). */
  line: number;
  column: number;
  /** Offset of the key's first character in the text. */
  index: number;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The regular expression of the key format for `brands`, unanchored, global: a brand not
 * preceded by a letter or digit, `_live_` or `_test_`, then exactly 49 base62 characters not
 * followed by another. The checksum is checked afterwards (a regex cannot compute a CRC).
 */
export function keyPattern(brands: readonly string[]): RegExp {
  if (brands.length === 0) throw new TypeError("keyPattern needs at least one brand");
  for (const brand of brands)
    if (!BRAND_PATTERN.test(brand)) throw new TypeError(`not a key brand: ${brand}`);
  // Longest first, so `lkx` is tried before `lk` (the lookbehind makes the order moot, but be explicit).
  const alternatives = [...new Set(brands)].sort((a, b) => b.length - a.length).map(escape);
  const tail = BODY_LENGTH + CHECKSUM_LENGTH;
  return new RegExp(
    `(?<![0-9A-Za-z])(?:${alternatives.join("|")})_(?:live|test)_[0-9A-Za-z]{${tail}}(?![0-9A-Za-z])`,
    "g",
  );
}

/** Offsets at which each line of `text` starts, for turning an index into line and column. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

function lineOf(starts: readonly number[], index: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (starts[mid]! <= index) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** Every key in `text` whose brand is one of `brands` and whose checksum holds, in order. */
export function findKeys(text: string, brands: readonly string[]): KeyMatch[] {
  const pattern = keyPattern(brands);
  const found: KeyMatch[] = [];
  let starts: number[] | undefined;
  for (const match of text.matchAll(pattern)) {
    const key = match[0];
    const parsed = parseKey(key);
    if (!parsed) continue;
    starts ??= lineStarts(text);
    const line = lineOf(starts, match.index);
    found.push({
      key,
      brand: parsed.brand,
      environment: parsed.environment,
      line: line + 1,
      column: match.index - starts[line]! + 1,
      index: match.index,
    });
  }
  return found;
}
