import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BACKUP_CODE_BITS,
  decodeBase32,
  encodeBase32,
  formatBackupCode,
  generateHotp,
  generateTotp,
  matchTotpStep,
  msLeftInStep,
  normalizeBackupCode,
  timeStep,
  totpKeyUri,
} from "./totp.js";

const RFC_KEY = new TextEncoder().encode("12345678901234567890");

describe("TOTP (RFC 6238 / RFC 4226)", () => {
  it("produces the RFC 4226 appendix D HOTP values", () => {
    const expected = [
      "755224",
      "287082",
      "359152",
      "969429",
      "338314",
      "254676",
      "287922",
      "162583",
      "399871",
      "520489",
    ];
    expected.forEach((code, counter) => expect(generateHotp(RFC_KEY, counter)).toBe(code));
  });

  it("produces the RFC 6238 appendix B SHA-1 vectors (8 digits)", () => {
    const vectors: [number, string][] = [
      [59, "94287082"],
      [1111111109, "07081804"],
      [1111111111, "14050471"],
      [1234567890, "89005924"],
      [2000000000, "69279037"],
      [20000000000, "65353130"],
    ];
    for (const [seconds, code] of vectors) {
      expect(generateTotp(RFC_KEY, seconds * 1000, { digits: 8 })).toBe(code);
      expect(matchTotpStep(RFC_KEY, code, seconds * 1000, { digits: 8 })).toBe(
        Math.floor(seconds / 30),
      );
    }
  });

  it("computes time steps and the time left in a step", () => {
    expect(timeStep(0)).toBe(0);
    expect(timeStep(29_999)).toBe(0);
    expect(timeStep(30_000)).toBe(1);
    expect(timeStep(1111111109_000)).toBe(37037036);
    expect(msLeftInStep(30_000)).toBe(30_000);
    expect(msLeftInStep(59_999)).toBe(1);
    expect(() => timeStep(-1)).toThrow(TypeError);
  });

  it("accepts one step of skew either side and refuses two", () => {
    const key = randomBytes(20);
    const now = 1_700_000_000_000;
    const step = timeStep(now);
    for (const offset of [-1, 0, 1]) {
      const code = generateHotp(key, step + offset);
      expect(matchTotpStep(key, code, now)).toBe(step + offset);
    }
    for (const offset of [-2, 2]) {
      const code = generateHotp(key, step + offset);
      // A chance collision with a code in the window is ~3e-6; compare against the window.
      const inWindow = [-1, 0, 1].some((o) => generateHotp(key, step + o) === code);
      expect(matchTotpStep(key, code, now)).toBe(inWindow ? expect.any(Number) : null);
    }
  });

  it("refuses malformed codes without throwing", () => {
    const key = randomBytes(20);
    for (const code of ["", "12345", "1234567", "12a456", " 123456", "１２３４５６"])
      expect(matchTotpStep(key, code, Date.UTC(2030, 0, 1))).toBeNull();
  });
});

describe("base32", () => {
  it("encodes the RFC 4648 test vectors without padding", () => {
    const cases: [string, string][] = [
      ["", ""],
      ["f", "MY"],
      ["fo", "MZXQ"],
      ["foo", "MZXW6"],
      ["foob", "MZXW6YQ"],
      ["fooba", "MZXW6YTB"],
      ["foobar", "MZXW6YTBOI"],
    ];
    for (const [plain, encoded] of cases) {
      expect(encodeBase32(new TextEncoder().encode(plain))).toBe(encoded);
      expect(Buffer.from(decodeBase32(encoded)!).toString()).toBe(plain);
    }
    expect(decodeBase32("mzxw 6ytb oi==")).toEqual(new TextEncoder().encode("foobar"));
    expect(decodeBase32("MZ1W")).toBeNull();
  });

  it("round-trips any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(decodeBase32(encodeBase32(bytes))).toEqual(bytes);
      }),
    );
  });

  it("builds the otpauth key URI of SPEC §3", () => {
    expect(totpKeyUri("Latchkey", "ada@example.com", "JBSWY3DPEHPK3PXP")).toBe(
      "otpauth://totp/Latchkey:ada@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Latchkey",
    );
    expect(totpKeyUri("My Co", "a+b@x.io", "AAAA")).toBe(
      "otpauth://totp/My%20Co:a%2Bb@x.io?secret=AAAA&issuer=My%20Co",
    );
  });
});

describe("backup codes", () => {
  it("formats 60-bit codes as three dash-separated groups of four", () => {
    expect(BACKUP_CODE_BITS).toBeGreaterThanOrEqual(50);
    const code = formatBackupCode(randomBytes(8));
    expect(code).toMatch(/^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$/);
    expect(formatBackupCode(new Uint8Array(8))).toBe("0000-0000-0000");
    expect(formatBackupCode(new Uint8Array(8).fill(255))).toBe("zzzz-zzzz-zzzz");
    expect(() => formatBackupCode(new Uint8Array(7))).toThrow(TypeError);
  });

  it("uses every one of the 60 bits (distinct inputs give distinct codes)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 60n) - 1n }), (value) => {
        const bytes = new Uint8Array(8);
        const shifted = value << 4n; // the 60 bits occupy the top of the 64
        for (let i = 0; i < 8; i++) bytes[i] = Number((shifted >> BigInt(56 - 8 * i)) & 0xffn);
        const code = normalizeBackupCode(formatBackupCode(bytes))!;
        let decoded = 0n;
        for (const char of code)
          decoded = (decoded << 5n) | BigInt("0123456789abcdefghjkmnpqrstvwxyz".indexOf(char));
        expect(decoded).toBe(value);
      }),
    );
  });

  it("normalises case, separators and look-alike characters", () => {
    const code = "ab1c-0def-gh2j";
    expect(normalizeBackupCode(code)).toBe("ab1c0defgh2j");
    expect(normalizeBackupCode(" AB1C 0DEF GH2J ")).toBe("ab1c0defgh2j");
    expect(normalizeBackupCode("abIc-Odef-gh2j")).toBe("ab1c0defgh2j");
    expect(normalizeBackupCode("abLc-odef-gh2j")).toBe("ab1c0defgh2j");
    expect(normalizeBackupCode("ab1c-0def-gh2")).toBeNull();
    expect(normalizeBackupCode("ab1c-0def-gh2u")).toBeNull();
    expect(normalizeBackupCode("123456")).toBeNull();
  });
});
