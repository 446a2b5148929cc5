/**
 * `latchkey scan --report`: sends the keys found to `POST /v1/keys/leaks`, which revokes the
 * real ones. Anyone may report; with a credential holding `keys:report` the server answers
 * what became of each key, otherwise only how many it received.
 */
import { MAX_LEAK_BATCH, type LeakReceiptT, type LeakOutcome } from "../api/leaks.js";
import { contextOf, warnIfInsecure, type Cli } from "./context.js";
import { usageError } from "./exit.js";
import { plural, type Style } from "./output.js";
import type { Hit } from "./scan.js";

export interface ReportOptions {
  report?: boolean;
  reportUrl?: string;
  apiUrl?: string;
}

export interface ReportedFinding {
  path: string;
  line: number;
  column: number;
  prefix: string;
  outcome: LeakOutcome;
}

export interface Receipt {
  server: string;
  received: number;
  /** Only when the server told (a caller with keys:report). */
  results?: ReportedFinding[];
}

const SOURCE = "latchkey scan";

function checkReportUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`--report-url: not a URL: ${text}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw usageError("--report-url: must be an http:// or https:// URL");
  return text;
}

/** Where and how `--report` will send, checked before anything is scanned. */
export interface Reporting {
  cli: Cli;
  url: string | undefined;
}

export function prepareReport(options: ReportOptions, env: NodeJS.ProcessEnv): Reporting {
  const url = checkReportUrl(options.reportUrl);
  const cli = contextOf({ apiUrl: options.apiUrl, output: "json" }, env);
  if (!options.apiUrl && !env.LATCHKEY_URL && cli.api.credential.source !== "file")
    throw usageError(
      "--report needs a Latchkey server",
      "pass --api-url URL or set LATCHKEY_URL (or `latchkey login` to one)",
    );
  return { cli, url };
}

/** Reports every distinct key (in batches the server accepts); what the server answered. */
export async function reportLeaks(
  hits: readonly Hit[],
  { cli, url }: Reporting,
): Promise<{ receipt: Receipt; describe: (s: Style) => string }> {
  warnIfInsecure(cli);
  // One candidate per distinct key; each hit remembers which.
  const distinct = [...new Map(hits.map((h) => [h.key, h])).values()];
  const receipt: Receipt = { server: cli.apiUrl, received: 0 };
  const auth = cli.api.credential.source === "none" ? "none" : "stored";
  for (let at = 0; at < distinct.length; at += MAX_LEAK_BATCH) {
    const batch = distinct.slice(at, at + MAX_LEAK_BATCH);
    const body = {
      keys: batch.map((h) => ({
        key: h.key,
        source: SOURCE,
        ...(url ? { url } : {}),
      })),
    };
    const answer = await cli.api.post<LeakReceiptT>("/v1/keys/leaks", body, { auth });
    receipt.received += answer.received;
    if (answer.results) {
      receipt.results ??= [];
      for (const result of answer.results) {
        const hit = batch[result.index];
        if (!hit) continue;
        const { path, line, column, prefix } = hit.finding;
        receipt.results.push({ path, line, column, prefix, outcome: result.outcome });
      }
    }
  }
  return { receipt, describe: (s) => describeReceipt(receipt, s) };
}

const SAID: Record<LeakOutcome, string> = {
  revoked: "revoked now",
  already_revoked: "was already revoked",
  quarantined: "quarantined now (its owner's policy)",
  already_quarantined: "was already quarantined",
  unknown: "not a key of this server",
  invalid_checksum: "not a key (checksum)",
};

function describeReceipt(receipt: Receipt, s: Style): string {
  const head = `Reported ${plural(receipt.received, "key")} to ${receipt.server}.\n`;
  if (!receipt.results)
    return (
      head +
      s.dim(
        "The server revokes the real ones; it tells what became of each only to a credential with keys:report.\n",
      )
    );
  return (
    head +
    receipt.results
      .map((r) => `  ${r.path}:${r.line}:${r.column}  ${r.prefix}…  ${SAID[r.outcome]}\n`)
      .join("")
  );
}
