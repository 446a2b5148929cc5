/**
 * docs/secret-scanning.md gives a gitleaks rule and a TruffleHog detector: this reads both
 * regular expressions out of the page and checks them against real keys (formatKey) and
 * near-misses, so the page cannot drift from the key format.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { formatKey } from "../../src/core/key-format.js";

const DOC = readFileSync(resolve(import.meta.dirname, "../../docs/secret-scanning.md"), "utf8");

/** The page's first ```language block whose text starts with `start`. */
function block(language: string, start = ""): string {
  for (const match of DOC.matchAll(new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g")))
    if (match[1]!.startsWith(start)) return match[1]!;
  throw new Error(`docs/secret-scanning.md has no ${language} block starting ${start}`);
}

/** The gitleaks rule's `regex = '''…'''` (a TOML literal string: no escapes). */
function gitleaksRule(): { regex: string; secretGroup: number; keywords: string[] } {
  const toml = block("toml");
  const regex = /^regex = '''(.*)'''$/m.exec(toml)?.[1];
  const secretGroup = Number(/^secretGroup = (\d+)$/m.exec(toml)?.[1]);
  const keywords = JSON.parse(/^keywords = (\[.*\])$/m.exec(toml)?.[1] ?? "null") as string[];
  if (!regex) throw new Error("no regex in the gitleaks rule");
  return { regex, secretGroup, keywords };
}

/** The TruffleHog detector's one regex (a single-quoted YAML scalar: '' is a quote). */
function truffleHogDetector(): { regex: string; keywords: string[] } {
  const yaml = block("yaml", "detectors:");
  const regex = /^\s+latchkey: '((?:[^']|'')*)'$/m.exec(yaml)?.[1]?.replaceAll("''", "'");
  const keywords = [...yaml.matchAll(/^\s+- (lk_\w+)$/gm)].map((m) => m[1]!);
  if (!regex) throw new Error("no regex in the TruffleHog detector");
  return { regex, keywords };
}

const key = (env: "live" | "test" = "live") => formatKey("lk", env, randomBytes(32));

/** What the rule captures in `text`: the secret group of each match (as the tools report it). */
function captured(regex: string, group: number, text: string): string[] {
  // The expressions use only syntax RE2 (Go) and JavaScript read the same way.
  return [...text.matchAll(new RegExp(regex, "g"))].map((m) => m[group]!);
}

describe("docs/secret-scanning.md", () => {
  const rules = [
    ["gitleaks", gitleaksRule().regex, gitleaksRule().secretGroup],
    ["TruffleHog", truffleHogDetector().regex, 1],
  ] as const;

  it("gives the same expression to gitleaks and TruffleHog, with the key format's keywords", () => {
    expect(truffleHogDetector().regex).toBe(gitleaksRule().regex);
    expect(gitleaksRule().keywords).toEqual(["lk_live_", "lk_test_"]);
    expect(truffleHogDetector().keywords).toEqual(["lk_live_", "lk_test_"]);
    expect(key("live").startsWith("lk_live_") && key("test").startsWith("lk_test_")).toBe(true);
  });

  for (const [tool, regex, group] of rules) {
    it(`${tool}: matches real keys exactly, wherever they sit`, () => {
      for (const env of ["live", "test"] as const) {
        const real = key(env);
        for (const text of [
          real,
          `LATCHKEY_TOKEN=${real}`,
          `"${real}",`,
          `export KEY_${real}\n`,
          `Authorization: Bearer ${real}`,
          `{"key":"${real}"}`,
        ])
          expect(captured(regex, group, text), text).toEqual([real]);
      }
      const [a, b] = [key(), key("test")];
      for (const between of [" ", ",", "\n"])
        expect(captured(regex, group, `${a}${between}${b}`), between).toEqual([a, b]);
    });

    it(`${tool}: does not match near-misses of the format`, () => {
      const real = key();
      const body = real.slice("lk_live_".length);
      for (const miss of [
        real.slice(0, -1), // one character short
        `${real}A`, // one too many
        `x${real}`, // glued to a letter before
        `lkx_live_${body}`, // another brand
        `lk_LIVE_${body}`, // upper-case environment
        `lk_prod_${body}`, // no such environment
        `lk_live_${body.slice(0, 20)}-${body.slice(21)}`, // not base62
        `lk-live-${body}`, // wrong separators
      ])
        expect(captured(regex, group, miss), miss).toEqual([]);
    });
  }
});
