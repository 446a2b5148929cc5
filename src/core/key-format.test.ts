import { randomBytes } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  base62,
  checksum,
  crc32,
  displayPrefix,
  encodeBody,
  formatKey,
  isWellFormedKey,
  parseKey,
} from "./key-format.js";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** An independent reading of SPEC §4: zlib's CRC-32, base62 by repeated division. */
function referenceChecksum(head: string): string {
  let n = zlibCrc32(Buffer.from(head, "utf8"));
  let out = "";
  while (n > 0) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(6, "0");
}

// Any Unicode text (fast-check's "binary" unit takes seconds to build; code points don't).
const codePoint = fc.oneof(
  fc.integer({ min: 0, max: 0xd7ff }),
  fc.integer({ min: 0xe000, max: 0x10ffff }),
);
const text = fc.array(codePoint, { maxLength: 64 }).map((cps) => String.fromCodePoint(...cps));

describe("key format", () => {
  it("computes the same CRC-32 as zlib for any text", () => {
    fc.assert(
      fc.property(text, (text) => {
        return crc32(text) === zlibCrc32(Buffer.from(text, "utf8"));
      }),
      { numRuns: 200 },
    );
    expect(crc32("123456789")).toBe(0xcbf43926); // the CRC-32 check value
  });

  it("writes live and test keys as brand_env_ + 43 base62 + 6-char zlib CRC-32 checksum", () => {
    for (const environment of ["live", "test"] as const) {
      for (let i = 0; i < 50; i++) {
        const key = formatKey("lk", environment, randomBytes(32));
        expect(key).toMatch(new RegExp(`^lk_${environment}_[0-9A-Za-z]{49}$`));
        const head = key.slice(0, -6);
        expect(key.slice(-6)).toBe(referenceChecksum(head));
        expect(parseKey(key)).toEqual({ brand: "lk", environment });
      }
    }
  });

  it("encodes 32 bytes as exactly 43 base62 digits, most significant first", () => {
    expect(encodeBody(new Uint8Array(32))).toBe("0".repeat(43));
    expect(encodeBody(new Uint8Array(32).fill(255))).toHaveLength(43);
    const one = new Uint8Array(32);
    one[31] = 63;
    expect(encodeBody(one)).toBe(`${"0".repeat(41)}11`);
    expect(base62(0xffffffff, 6)).toBe("4gfFC3");
    expect(() => encodeBody(new Uint8Array(31))).toThrow(TypeError);
  });

  it("uses a configured brand (LATCHKEY_KEY_PREFIX=bdk gives bdk_live_…)", () => {
    const key = formatKey("bdk", "live", randomBytes(32));
    expect(key.startsWith("bdk_live_")).toBe(true);
    expect(key.slice(-6)).toBe(referenceChecksum(key.slice(0, -6)));
    expect(parseKey(key, "bdk")).toEqual({ brand: "bdk", environment: "live" });
    expect(parseKey(key, "lk")).toBeNull();
    expect(displayPrefix(key)).toBe(key.slice(0, 12));
  });

  it("tells a real key from noise offline: any changed character breaks the checksum", () => {
    const key = formatKey("lk", "live", randomBytes(32));
    expect(isWellFormedKey(key)).toBe(true);
    for (let i = 8; i < key.length; i++) {
      const c = key[i] === "a" ? "b" : "a";
      const mutated = key.slice(0, i) + c + key.slice(i + 1);
      expect(isWellFormedKey(mutated), `position ${i}`).toBe(false);
    }
    for (const noise of [
      "",
      "lk_live_",
      "lk_prod_" + key.slice(8),
      key + "0",
      key.slice(0, -1),
      key.replace("_live_", "_live__"),
      "LK" + key.slice(2),
    ])
      expect(parseKey(noise)).toBeNull();
    expect(checksum(key.slice(0, -6))).toBe(key.slice(-6));
  });
});

/** SPEC §4 read literally: three parts, brand, environment, 43 + 6 base62, the checksum. */
function referenceParse(
  candidate: string,
  brand?: string,
): { brand: string; environment: string } | null {
  if (candidate.length > 128) return null;
  const parts = candidate.split("_");
  if (parts.length !== 3) return null;
  const [b, env, tail] = parts as [string, string, string];
  if (!/^[a-z][a-z0-9]{0,15}$/.test(b) || (brand !== undefined && b !== brand)) return null;
  if (env !== "live" && env !== "test") return null;
  if (!/^[0-9A-Za-z]{49}$/.test(tail)) return null;
  if (referenceChecksum(candidate.slice(0, -6)) !== candidate.slice(-6)) return null;
  return { brand: b, environment: env };
}

describe("parseKey against SPEC §4 read literally", () => {
  const real = fc
    .tuple(
      fc.constantFrom("lk", "bdk", "a1"),
      fc.constantFrom("live", "test"),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
    )
    .map(([brand, env, bytes]) => formatKey(brand, env as "live" | "test", bytes));
  const mutated = fc
    .tuple(real, fc.nat(), fc.oneof(fc.constantFrom("_", "0", "z", "é", "-", " ", ""), text))
    .map(([key, at, piece]) => {
      const i = at % (key.length + 1);
      return key.slice(0, i) + piece + key.slice(i + 1);
    });

  it("agrees on real keys, mutated keys and any text, with and without a brand", () => {
    fc.assert(
      fc.property(
        fc.oneof(real, mutated, text),
        fc.constantFrom(undefined, "lk"),
        (candidate, brand) => {
          expect(parseKey(candidate, brand)).toEqual(referenceParse(candidate, brand));
        },
      ),
      { numRuns: 5000 },
    );
  });
});
