/**
 * `latchkey scan [PATH…] [--git] [-o text|json|sarif] [--report]` (SPEC §11): finds API keys
 * whose checksum holds, offline; prints where and the 12-character prefix, never the key;
 * exits 1 when it found any. `--report` sends them to the server's leak endpoint.
 */
import { readFile, stat } from "node:fs/promises";
import { Command, Option } from "commander";
import { displayPrefix } from "../core/key-format.js";
import { BRAND_PATTERN, DEFAULT_BRAND, findKeys } from "../core/key-scan.js";
import { VERSION } from "./context.js";
import { CliError, EXIT, usageError } from "./exit.js";
import { Output, plural } from "./output.js";
import { prepareReport, reportLeaks, type ReportOptions } from "./scan-report.js";
import {
  describeScan,
  fingerprintOf,
  renderText,
  toJson,
  toSarif,
  type Finding,
  type ScanSummary,
} from "./scan-output.js";
import {
  GitError,
  gitBlobs,
  noneSkipped,
  readStdin,
  walkFiles,
  type Blob,
  type ScanLimits,
  type Skipped,
} from "./scan-sources.js";

const DEFAULT_EXCLUDES = [".git", "node_modules"];

export interface ScanOptions extends ReportOptions {
  git?: boolean;
  baseline?: string;
  prefix: string[];
  exclude: string[];
  defaultExcludes: boolean;
  maxSize: string;
  output: "text" | "json" | "sarif";
}

/** A found key: where (for output) and the key itself (for --report only, never printed). */
export interface Hit {
  finding: Finding;
  key: string;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(",").filter(Boolean)];
}

/** `1048576`, `512k`, `2m`: bytes. */
export function parseSize(text: string): number | null {
  const match = /^(\d+)([km]?)$/i.exec(text.trim());
  if (!match) return null;
  const scale = { "": 1, k: 1024, m: 1024 * 1024 }[match[2]!.toLowerCase() as "" | "k" | "m"];
  const bytes = Number(match[1]) * scale;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : null;
}

/** The brands to look for: `lk`, this install's LATCHKEY_KEY_PREFIX, and each `--prefix`. */
export function brandsOf(options: { prefix: string[] }, env: NodeJS.ProcessEnv): string[] {
  const brands = new Set([DEFAULT_BRAND]);
  const configured = env.LATCHKEY_KEY_PREFIX?.trim();
  if (configured) {
    if (!BRAND_PATTERN.test(configured))
      throw usageError(`LATCHKEY_KEY_PREFIX: not a key brand: ${configured}`);
    brands.add(configured);
  }
  for (const brand of options.prefix) {
    if (!BRAND_PATTERN.test(brand))
      throw usageError(
        `--prefix: not a key brand: ${brand}`,
        "a brand is 1-16 lowercase letters and digits, starting with a letter (e.g. bdk)",
      );
    brands.add(brand);
  }
  return [...brands];
}

function limitsOf(options: ScanOptions): ScanLimits {
  const maxBytes = parseSize(options.maxSize);
  if (maxBytes === null)
    throw usageError(`--max-size: not a size: ${options.maxSize}`, "e.g. 1048576, 512k or 2m");
  const exclude = new Set([
    ...(options.defaultExcludes ? DEFAULT_EXCLUDES : []),
    ...options.exclude,
  ]);
  return { maxBytes, exclude };
}

/** Every path named must exist before any is read: a typo is a usage error, not "no keys". */
async function checkPaths(paths: readonly string[], git: boolean): Promise<void> {
  for (const path of paths) {
    if (path === "-") {
      if (git) throw usageError("--git reads repositories: `-` (stdin) cannot be one");
      continue;
    }
    try {
      const info = await stat(path);
      if (git && !info.isDirectory()) throw usageError(`--git: not a directory: ${path}`);
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw usageError(`no such file or directory: ${path}`);
    }
  }
}

/**
 * The fingerprints of a `latchkey scan -o json` output saved earlier: findings already known
 * (a test fixture, a key revoked long ago) that are not reported again.
 */
export async function readBaseline(path: string): Promise<Set<string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    const why = error instanceof SyntaxError ? "not JSON" : "cannot be read";
    throw usageError(`--baseline: ${path} ${why}`, "make one with `latchkey scan -o json > FILE`");
  }
  const findings = (parsed as { findings?: unknown } | null)?.findings;
  if (!Array.isArray(findings))
    throw usageError(
      `--baseline: ${path} has no findings list (a \`latchkey scan -o json\` output)`,
    );
  const fingerprints = new Set<string>();
  for (const finding of findings) {
    const fingerprint = (finding as { fingerprint?: unknown } | null)?.fingerprint;
    if (typeof fingerprint !== "string" || !/^[0-9a-f]{64}$/.test(fingerprint))
      throw usageError(`--baseline: ${path} holds a finding without a fingerprint`);
    fingerprints.add(fingerprint);
  }
  return fingerprints;
}

async function* sourcesOf(
  paths: readonly string[],
  options: ScanOptions,
  limits: ScanLimits,
  skipped: Skipped,
): AsyncGenerator<Blob> {
  for (const path of paths) {
    if (options.git) yield* gitBlobs(path, limits, skipped);
    else if (path === "-") {
      try {
        yield { path: "-", bytes: await readStdin(process.stdin, limits.maxBytes) };
      } catch (error) {
        if (error instanceof RangeError) throw usageError(`${error.message} (see --max-size)`);
        throw error;
      }
    } else yield* walkFiles(path, limits, skipped);
  }
}

/** Searches every source; the hits in the order found. */
export async function scan(
  paths: readonly string[],
  options: ScanOptions,
  env: NodeJS.ProcessEnv,
): Promise<{ summary: ScanSummary; hits: Hit[] }> {
  const brands = brandsOf(options, env);
  const limits = limitsOf(options);
  const baseline = options.baseline ? await readBaseline(options.baseline) : new Set<string>();
  await checkPaths(paths, options.git === true);
  const skipped = noneSkipped();
  const hits: Hit[] = [];
  let scanned = 0;
  let baselined = 0;
  try {
    for await (const blob of sourcesOf(paths, options, limits, skipped)) {
      scanned += 1;
      for (const match of findKeys(blob.bytes.toString("utf8"), brands)) {
        const finding: Finding = {
          path: blob.path,
          line: match.line,
          column: match.column,
          prefix: displayPrefix(match.key),
          environment: match.environment,
          fingerprint: fingerprintOf(match.key),
          ...(blob.commit ? { commit: blob.commit } : {}),
        };
        if (baseline.has(finding.fingerprint)) baselined += 1;
        else hits.push({ finding, key: match.key });
      }
    }
  } catch (error) {
    if (error instanceof GitError)
      throw /not a git repository/i.test(error.message)
        ? usageError(`--git: ${error.message}`)
        : new CliError(`git: ${error.message}`, EXIT.failure);
    throw error;
  }
  const findings = hits.map((h) => h.finding);
  return { summary: { findings, scanned, skipped, baselined }, hits };
}

async function action(paths: string[], options: ScanOptions): Promise<void> {
  const env = process.env;
  if (options.reportUrl !== undefined && !options.report)
    throw usageError("--report-url goes with --report");
  const reporting = options.report ? prepareReport(options, env) : null;
  const targets = paths.length > 0 ? paths : ["."];
  const { summary, hits } = await scan(targets, options, env);
  // A report that fails (server unreachable, credential refused) still leaves the findings
  // printed; its error decides the exit code.
  let report: Awaited<ReturnType<typeof reportLeaks>> | null = null;
  let failure: unknown = null;
  if (reporting && hits.length > 0) {
    try {
      report = await reportLeaks(hits, reporting);
    } catch (error) {
      failure = error;
    }
  }
  const out = new Output(
    options.output === "text" ? "table" : "json",
    process.stdout,
    process.stderr,
    env,
  );
  if (options.output === "sarif")
    process.stdout.write(JSON.stringify(toSarif(summary, VERSION), null, 2) + "\n");
  else
    out.result({ ...toJson(summary), ...(report ? { report: report.receipt } : {}) }, (s) =>
      renderText(summary, s),
    );
  process.stderr.write(describeScan(summary, options.git ? "blob" : "file") + "\n");
  if (report) process.stderr.write(report.describe(out.errStyle));
  if (failure) throw failure;
  if (hits.length > 0)
    throw new CliError(
      `found ${plural(hits.length, "API key")} with a valid checksum`,
      EXIT.failure,
      options.report
        ? []
        : ["revoke each one (`latchkey token revoke ID`) or report them: `latchkey scan --report`"],
    );
}

export function scanCommand(): Command {
  return new Command("scan")
    .description("find API keys (valid checksum) in files, stdin (-) or git history; exit 1 if any")
    .argument(
      "[paths...]",
      "files or directories (default .), - for stdin; with --git, repositories",
    )
    .option("--git", "scan every blob in the git history (all refs) instead of the working tree")
    .option("--prefix <brand>", "also find keys of this brand, e.g. bdk (repeat)", collect, [])
    .option("--exclude <name>", "skip files and directories with this name (repeat)", collect, [])
    .option("--no-default-excludes", `also walk ${DEFAULT_EXCLUDES.join(" and ")}`)
    .option("--max-size <bytes>", "skip files larger than this (e.g. 512k, 2m)", "1m")
    .option("--baseline <file>", "ignore findings already in this earlier `-o json` output")
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["text", "json", "sarif"])
        .default("text"),
    )
    .option(
      "--report",
      "report what was found to the server (POST /v1/keys/leaks): it revokes them",
    )
    .option("--report-url <url>", "with --report: where the keys were seen (told to their owners)")
    .option("--api-url <url>", "with --report: the Latchkey server (env LATCHKEY_URL)")
    .addHelpText(
      "after",
      "\nExit codes: 0 no key found, 1 keys found (or another failure), 2 usage, 3 authentication, " +
        "4 server unreachable.\nOnly each key's 12-character prefix is printed, never the key.",
    )
    .action(action);
}
