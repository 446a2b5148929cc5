import type { ExchangeResponse } from "../api/exchange.js";
import type { z } from "zod";
import { parseDuration } from "../core/durations.js";
import { looksLikeJwt } from "../core/key-format.js";
import { contextOf, type Cli, type CommonOptions } from "./context.js";
import { usageError } from "./exit.js";
import { relativeTime } from "./output.js";
import { readAllStdin } from "./prompt.js";

type Exchanged = z.output<typeof ExchangeResponse>;

export interface ExchangeOptions extends CommonOptions {
  key?: string;
  keyStdin?: boolean;
  scope?: string[];
  expires?: string;
}

/**
 * The key to exchange: --key-stdin, --key, LATCHKEY_API_KEY, else the CLI's own credential
 * when that is an API key (LATCHKEY_TOKEN or `auth set-token`). A session cannot be exchanged.
 */
async function keyOf(cli: Cli, options: ExchangeOptions): Promise<{ bearer: string } | "stored"> {
  if (options.keyStdin && options.key !== undefined)
    throw usageError("give --key or --key-stdin, not both");
  const given = options.keyStdin
    ? (await readAllStdin()).trim()
    : (options.key ?? cli.env.LATCHKEY_API_KEY?.trim());
  if (given !== undefined) {
    if (!given) throw usageError("no API key given (stdin or LATCHKEY_API_KEY was empty)");
    return { bearer: given };
  }
  const credential = cli.api.credential;
  const isKey =
    (credential.source === "env" && !looksLikeJwt(credential.token)) ||
    (credential.source === "file" && credential.stored.type === "api_key");
  if (isKey) return "stored";
  throw usageError(
    "no API key to exchange: a signed-in session cannot be exchanged",
    "pipe the key in with --key-stdin, set LATCHKEY_API_KEY, or pass --key",
  );
}

function secondsOf(text: string): number {
  const ms = parseDuration(text);
  if (ms === null || ms < 1000)
    throw usageError(`--expires: not a duration of at least 1s (e.g. 5m, 900s): ${text}`);
  return Math.floor(ms / 1000);
}

/** `latchkey token exchange`: prints the token once (the whole answer with -o json). */
export async function exchangeToken(options: ExchangeOptions): Promise<void> {
  const cli = contextOf(options);
  const body: Record<string, unknown> = {};
  if (options.scope !== undefined) body.scopes = options.scope;
  if (options.expires !== undefined) body.expires_in = secondsOf(options.expires);
  const key = await keyOf(cli, options);
  const answer = await cli.api.post<Exchanged>(
    "/v1/keys/exchange",
    body,
    key === "stored" ? {} : { auth: key },
  );
  cli.out.result(
    answer,
    (s) =>
      `${s.green("✓")} Access token for ${s.bold(answer.key_id)} (${answer.environment}) with ` +
      `${answer.scopes.join(", ")}; it expires ${relativeTime(answer.expires_at)}.\n\n` +
      `  ${answer.access_token}\n\n` +
      `Send it as \`Authorization: Bearer …\`; services verify it offline (JWKS). ` +
      `Revoking the key ends it.\n`,
  );
}
