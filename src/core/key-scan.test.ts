import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { formatKey } from "./key-format.js";
import { findKeys, keyPattern } from "./key-scan.js";

const key = (brand = "lk", env: "live" | "test" = "live") => formatKey(brand, env, randomBytes(32));

/** The same key with its last checksum character changed: the right shape, a wrong checksum. */
function wrongChecksum(real: string): string {
  const last = real.at(-1)!;
  return real.slice(0, -1) + (last === "0" ? "1" : "0");
}

describe("finding keys in text", () => {
  it("finds a key with its line, column and environment", () => {
    const live = key();
    const test = key("lk", "test");
    const text = `first line\nexport LATCHKEY_TOKEN=${live}\n  "${test}"\n`;
    const found = findKeys(text, ["lk"]);
    expect(found.map((f) => [f.key, f.line, f.column, f.environment])).toEqual([
      [live, 2, 23, "live"],
      [test, 3, 4, "test"],
    ]);
    expect(found[0]!.index).toBe(text.indexOf(live));
  });

  it("drops a near-miss whose checksum does not hold", () => {
    const real = key();
    expect(findKeys(`token=${wrongChecksum(real)}`, ["lk"])).toEqual([]);
    expect(findKeys(`token=${real}`, ["lk"])).toHaveLength(1);
  });

  it("does not cut a key out of a longer run of base62 characters", () => {
    const real = key();
    expect(findKeys(`${real}A`, ["lk"])).toEqual([]);
    expect(findKeys(`x${real}`, ["lk"])).toEqual([]);
    expect(findKeys(real.slice(0, -1), ["lk"])).toEqual([]);
    // Quotes, equals signs, underscores and slashes are boundaries.
    for (const around of [`"${real}"`, `KEY_${real}`, `/${real}/`, `(${real})`])
      expect(findKeys(around, ["lk"]), around).toHaveLength(1);
  });

  it("finds only the brands asked for", () => {
    const platform = key("bdk");
    const ours = key("lk");
    const text = `${platform} ${ours}`;
    expect(findKeys(text, ["lk"]).map((f) => f.key)).toEqual([ours]);
    expect(findKeys(text, ["lk", "bdk"]).map((f) => f.brand)).toEqual(["bdk", "lk"]);
    expect(findKeys(`${key("lkx")}`, ["lk"])).toEqual([]);
  });

  it("refuses a brand the key format cannot have", () => {
    expect(() => keyPattern(["Lk"])).toThrow(TypeError);
    expect(() => keyPattern(["lk|.*"])).toThrow(TypeError);
    expect(() => keyPattern([])).toThrow(TypeError);
  });

  it("counts columns on lines with CRLF endings and several keys on one line", () => {
    const a = key();
    const b = key();
    const found = findKeys(`x\r\n${a},${b}`, ["lk"]);
    expect(found.map((f) => [f.line, f.column])).toEqual([
      [2, 1],
      [2, a.length + 2],
    ]);
  });
});
