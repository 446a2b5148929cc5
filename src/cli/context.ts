import { createRequire } from "node:module";
import { Option, type Command } from "commander";
import { parseDuration } from "../core/durations.js";
import { configDir, CredentialStore, type StoredCredentials } from "./credentials.js";
import { usageError } from "./exit.js";
import { ApiClient, type Credential } from "./http.js";
import { currentOrg } from "./org-context.js";
import { Output, type Format } from "./output.js";

export const DEFAULT_API_URL = "http://127.0.0.1:8080";
const DEFAULT_TIMEOUT_MS = 30_000;

export const VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string })
  .version;

export interface CommonOptions {
  apiUrl?: string;
  output: Format;
}

/** What every command works with: where to print, whom to call, where credentials live. */
export interface Cli {
  out: Output;
  api: ApiClient;
  store: CredentialStore;
  apiUrl: string;
  env: NodeJS.ProcessEnv;
  /** A client bound to other stored credentials (logout ends the session where it was made). */
  clientFor(stored: StoredCredentials, options?: { timeoutMs?: number }): ApiClient;
}

/** `--api-url` and `-o` on every command, so each one's --help shows them. */
export function withCommonOptions(command: Command): Command {
  return command
    .option("--api-url <url>", `Latchkey server (env LATCHKEY_URL, default ${DEFAULT_API_URL})`)
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["table", "json"])
        .default("table"),
    );
}

export function normaliseUrl(text: string, from: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`${from}: not a URL: ${text}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw usageError(`${from}: must be an http:// or https:// URL`);
  if (url.username || url.password || url.search || url.hash)
    throw usageError(`${from}: give only scheme, host, port and path`);
  return url.origin + url.pathname.replace(/\/+$/, "");
}

function timeoutOf(env: NodeJS.ProcessEnv): number {
  if (!env.LATCHKEY_TIMEOUT) return DEFAULT_TIMEOUT_MS;
  const ms = parseDuration(env.LATCHKEY_TIMEOUT);
  if (ms === null)
    throw usageError(`LATCHKEY_TIMEOUT: not a duration (e.g. 10s): ${env.LATCHKEY_TIMEOUT}`);
  return ms;
}

/**
 * Server: --api-url, else LATCHKEY_URL, else the server the stored credentials belong to, else the default.
 * Credential: LATCHKEY_TOKEN wins; the file is used only for the server it was written for, so a
 * session never travels to another host.
 */
export function contextOf(
  options: CommonOptions,
  env: NodeJS.ProcessEnv = process.env,
  stdout: NodeJS.WriteStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
): Cli {
  const out = new Output(options.output, stdout, stderr, env);
  const store = new CredentialStore(configDir(env));
  const envToken = env.LATCHKEY_TOKEN?.trim() || undefined;
  const stored = envToken ? null : store.load();
  const apiUrl = options.apiUrl
    ? normaliseUrl(options.apiUrl, "--api-url")
    : env.LATCHKEY_URL
      ? normaliseUrl(env.LATCHKEY_URL, "LATCHKEY_URL")
      : (stored?.api_url ?? DEFAULT_API_URL);
  let credential: Credential;
  if (envToken) credential = { source: "env", token: envToken };
  else if (stored && stored.api_url === apiUrl) credential = { source: "file", stored };
  else if (stored)
    credential = {
      source: "none",
      reason: `not logged in to ${apiUrl} (the stored credentials are for ${stored.api_url})`,
    };
  else credential = { source: "none", reason: `not logged in to ${apiUrl}` };
  const timeoutMs = timeoutOf(env);
  const userAgent = `latchkey-cli/${VERSION} node/${process.versions.node}`;
  const client = (url: string, with_: Credential, ms = timeoutMs) =>
    new ApiClient({ apiUrl: url, store, credential: with_, timeoutMs: ms, userAgent });
  const cli: Cli = {
    out,
    api: client(apiUrl, credential),
    store,
    apiUrl,
    env,
    clientFor: (s, options) =>
      client(s.api_url, { source: "file", stored: s }, options?.timeoutMs ?? timeoutMs),
  };
  // The switched-to organization (`latchkey org switch`): key, project, webhook and
  // leak-policy requests act in it; `--org` / `--personal` override it (org-context.ts).
  cli.api.org = currentOrg(cli)?.org_id ?? null;
  return cli;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Secrets (passwords, keys) should not cross a network in clear text. */
export function warnIfInsecure(cli: Cli): void {
  const url = new URL(cli.apiUrl);
  if (url.protocol === "http:" && !LOOPBACK.has(url.hostname))
    cli.out.warn(`${cli.apiUrl} is not HTTPS: your credentials would travel unencrypted`);
}
