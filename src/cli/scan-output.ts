/**
 * How `latchkey scan` shows what it found: text for people, JSON for scripts, SARIF 2.1.0 for
 * code scanning (GitHub accepts it with `github/codeql-action/upload-sarif`). A finding holds
 * the key's 12-character prefix and a one-way fingerprint, never the key: nothing here can
 * print one.
 */
import { createHash } from "node:crypto";
import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import type { Environment } from "../core/key-format.js";
import type { Skipped } from "./scan-sources.js";
import { plural, type Style } from "./output.js";

export interface Finding {
  path: string;
  line: number;
  column: number;
  /** The first 12 characters, as `latchkey token list` shows them. */
  prefix: string;
  environment: Environment;
  /** SHA-256 (hex) of a fixed label and the key: the same key always gets the same one. */
  fingerprint: string;
  /** Git history mode: the commit that introduced the blob. */
  commit?: string;
}

export interface ScanSummary {
  findings: Finding[];
  /** Files (or blobs, with --git) read and searched. */
  scanned: number;
  skipped: Skipped;
  /** Findings left out because the baseline (`--baseline`) already lists their fingerprint. */
  baselined: number;
}

/** A stable, one-way name for a key: it tells two findings of one key apart from two keys. */
export function fingerprintOf(key: string): string {
  return createHash("sha256").update("latchkey-scan-fingerprint/v1\0").update(key).digest("hex");
}

function where(f: Finding): string {
  return `${f.path}:${f.line}:${f.column}`;
}

export function renderText(summary: ScanSummary, s: Style): string {
  return summary.findings
    .map((f) => {
      const commit = f.commit ? `${s.dim(f.commit.slice(0, 12))} ` : "";
      return `${commit}${s.bold(where(f))}  ${s.red(f.prefix)}…  ${f.environment} key`;
    })
    .map((line) => line + "\n")
    .join("");
}

/** `Scanned 12 files (3 skipped: 2 binary, 1 too large)`, for stderr. */
export function describeScan(summary: ScanSummary, unit: string): string {
  const reasons: [number, string][] = [
    [summary.skipped.binary, "binary"],
    [summary.skipped.tooLarge, "too large"],
    [summary.skipped.symlinks, "symlinks"],
    [summary.skipped.excluded, "excluded"],
    [summary.skipped.unreadable, "unreadable"],
  ];
  const shown = reasons.filter(([n]) => n > 0);
  const total = shown.reduce((sum, [n]) => sum + n, 0);
  const skipped = total ? ` (skipped ${shown.map(([n, why]) => `${n} ${why}`).join(", ")})` : "";
  const known = summary.baselined
    ? ` ${plural(summary.baselined, "known finding")} ignored (baseline).`
    : "";
  return `Scanned ${plural(summary.scanned, unit)}${skipped}.${known}`;
}

export function toJson(summary: ScanSummary): object {
  return {
    findings: summary.findings,
    scanned: summary.scanned,
    baselined: summary.baselined,
    skipped: {
      too_large: summary.skipped.tooLarge,
      binary: summary.skipped.binary,
      symlinks: summary.skipped.symlinks,
      excluded: summary.skipped.excluded,
      unreadable: summary.skipped.unreadable,
    },
  };
}

export const SARIF_RULE_ID = "latchkey/api-key";

/** SARIF 2.1.0 with one rule; each result's location, prefix and fingerprint, never the key. */
export function toSarif(summary: ScanSummary, version: string): object {
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "latchkey scan",
            semanticVersion: version,
            version,
            rules: [
              {
                id: SARIF_RULE_ID,
                name: "LatchkeyApiKey",
                shortDescription: { text: "Latchkey API key with a valid checksum" },
                fullDescription: {
                  text:
                    "A string of the Latchkey API key format whose CRC-32 checksum holds: " +
                    "almost certainly a real key, not noise.",
                },
                help: {
                  text:
                    "Revoke the key (`latchkey token revoke ID`, or report it with " +
                    "`latchkey scan --report`), issue a new one, and keep it in a secret store.",
                },
                defaultConfiguration: { level: "error" },
                properties: { tags: ["security", "secret"], "security-severity": "9.0" },
              },
            ],
          },
        },
        results: summary.findings.map((f) => ({
          ruleId: SARIF_RULE_ID,
          ruleIndex: 0,
          level: "error",
          message: {
            text:
              `Latchkey ${f.environment} API key ${f.prefix}… ` +
              (f.commit ? `committed in ${f.commit}` : "found") +
              "; revoke it and issue a new one.",
          },
          locations: [
            {
              physicalLocation: {
                artifactLocation: artifactOf(f.path),
                region: {
                  startLine: f.line,
                  startColumn: f.column,
                  endLine: f.line,
                  endColumn: f.column + keyLengthOf(f),
                },
              },
            },
          ],
          partialFingerprints: { "latchkeyKey/v1": f.fingerprint },
          properties: {
            prefix: f.prefix,
            environment: f.environment,
            ...(f.commit ? { commit: f.commit } : {}),
          },
        })),
      },
    ],
  };
}

/**
 * Where a finding is, as SARIF wants it: a path under the checkout relative to `%SRCROOT%`
 * (what GitHub code scanning maps onto the repository), URI-encoded; an absolute path as a
 * `file:` URL.
 */
export function artifactOf(path: string): { uri: string; uriBaseId?: string } {
  if (path === "-") return { uri: "stdin" };
  if (isAbsolute(path)) return { uri: pathToFileURL(path).href };
  return { uri: path.split("/").map(encodeURIComponent).join("/"), uriBaseId: "%SRCROOT%" };
}

/** The key's length: brand (from the prefix), `_live_`, body and checksum. */
function keyLengthOf(f: Finding): number {
  const brand = f.prefix.slice(0, f.prefix.indexOf("_"));
  return brand.length + 6 + 49;
}
