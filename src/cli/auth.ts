import { Command } from "commander";
import type { WhoamiT } from "../api/schemas.js";
import { looksLikeJwt } from "../core/key-format.js";
import {
  contextOf,
  warnIfInsecure,
  withCommonOptions,
  type Cli,
  type CommonOptions,
} from "./context.js";
import { ApiError, CliError, EXIT, authError, usageError } from "./exit.js";
import { sessionFrom, type TokenPair } from "./http.js";
import { fields, wrap, type Style } from "./output.js";
import { ask, isInteractive, readAllStdin } from "./prompt.js";
import { reauthenticateCommand } from "./step-up.js";

/** A code typed at a 2FA prompt: six digits are a TOTP code, anything else a backup code. */
export function secondFactorBody(answer: string): { code: string } | { backup_code: string } {
  const digits = answer.replace(/\s+/g, "");
  return /^[0-9]{6}$/.test(digits) ? { code: digits } : { backup_code: answer.trim() };
}

const MFA_ATTEMPTS = 3;

async function completeMfa(
  cli: Cli,
  mfaToken: string | undefined,
  code: string | undefined,
  canPrompt: boolean,
): Promise<TokenPair> {
  if (!mfaToken) throw new CliError("the server asked for a second factor but sent no mfa_token");
  const send = (answer: string) =>
    cli.api.post<TokenPair>(
      "/v1/auth/login/mfa",
      { mfa_token: mfaToken, ...secondFactorBody(answer) },
      { auth: "none" },
    );
  if (code !== undefined) return send(code);
  if (!canPrompt)
    throw authError(
      "this account has two-factor authentication on",
      "pass --code with the current code from your authenticator app (or a backup code)",
    );
  for (let attempt = 1; ; attempt++) {
    const answer = await ask("Two-factor code (or a backup code): ");
    try {
      return await send(answer);
    } catch (error) {
      const retry =
        attempt < MFA_ATTEMPTS && error instanceof ApiError && error.code === "invalid_mfa_code";
      if (!retry) throw error;
      process.stderr.write("That code is not valid; try again.\n");
    }
  }
}

/** The longest back-off the login command waits out by itself before retrying with the ticket. */
const MAX_WAIT_SECONDS = 120;

/**
 * `POST /v1/auth/login`; inside the account's back-off (429 `rate_limited` with a wait
 * ticket) it waits `retry_after` seconds and tries once more with the ticket, which the
 * server evaluates even while others keep the back-off running (SECURITY.md).
 */
async function signIn(cli: Cli, body: { email: string; password: string }): Promise<TokenPair> {
  const post = (extra: { wait_ticket?: string } = {}) =>
    cli.api.post<TokenPair>("/v1/auth/login", { ...body, ...extra }, { auth: "none" });
  try {
    return await post();
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "rate_limited") throw error;
    const { wait_ticket: ticket, retry_after: wait } = error.payload;
    if (!ticket || wait === undefined || wait > MAX_WAIT_SECONDS) throw error;
    process.stderr.write(
      `Too many failed sign-ins for this account; waiting ${wait} s before trying again…\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    return post({ wait_ticket: ticket });
  }
}

interface LoginOptions extends CommonOptions {
  email?: string;
  passwordStdin?: boolean;
  code?: string;
}

async function login(options: LoginOptions): Promise<void> {
  const cli = contextOf(options);
  warnIfInsecure(cli);
  const canPrompt = isInteractive() && !options.passwordStdin;
  let email = options.email;
  if (email === undefined) {
    if (!canPrompt)
      throw usageError(
        "no terminal to ask for your email",
        "use --email E --password-stdin in scripts",
      );
    email = await ask("Email: ");
  }
  let password: string;
  if (options.passwordStdin) password = await readAllStdin();
  else if (canPrompt) password = await ask("Password: ", { hidden: true });
  else throw usageError("no terminal to ask for your password", "pipe it in with --password-stdin");
  if (!email.trim()) throw usageError("an email is required");
  if (!password) throw usageError("a password is required");

  let pair: TokenPair;
  let usedSecondFactor = false;
  try {
    pair = await signIn(cli, { email, password });
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "mfa_required") throw error;
    pair = await completeMfa(cli, error.payload.mfa_token, options.code, canPrompt);
    usedSecondFactor = true;
  }
  await endPreviousSession(cli);
  cli.store.save(sessionFrom(cli.apiUrl, pair));
  const who = await cli.api.get<WhoamiT>("/v1/auth/whoami", {
    auth: { bearer: pair.access_token },
  });
  cli.out.result(
    {
      logged_in: true,
      api_url: cli.apiUrl,
      email: who.email,
      user_id: who.user_id,
      amr: who.amr,
      credentials_file: cli.store.file,
    },
    (s) =>
      `${s.green("✓")} Logged in to ${cli.apiUrl} as ${s.bold(who.email)}` +
      `${usedSecondFactor ? " (with two-factor)" : ""}.\n` +
      `Credentials saved to ${cli.store.file}.\n`,
  );
  if (cli.env.LATCHKEY_TOKEN)
    cli.out.warn("LATCHKEY_TOKEN is set and wins over this login until you unset it");
}

/**
 * A new login replaces the stored one: end the old session on its server first. Best effort,
 * and briefly: a server that is gone must not hold up signing in to another.
 */
async function endPreviousSession(cli: Cli): Promise<void> {
  let stored;
  try {
    stored = cli.store.load();
  } catch {
    return;
  }
  if (stored?.type !== "session") return;
  await cli
    .clientFor(stored, { timeoutMs: 5_000 })
    .post("/v1/auth/logout")
    .catch(() => undefined);
}

async function logout(options: CommonOptions): Promise<void> {
  const cli = contextOf({ ...options, apiUrl: undefined });
  let stored;
  try {
    stored = cli.store.load();
  } catch {
    stored = null;
  }
  let problem: CliError | null = null;
  let ended = false;
  if (stored?.type === "session") {
    try {
      await cli.clientFor(stored).post("/v1/auth/logout");
      ended = true;
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      // An ended or expired session is as logged out as it gets; anything else is worth saying.
      if (error.exitCode === EXIT.auth) ended = true;
      else problem = error;
    }
  }
  const removed = cli.store.remove();
  cli.out.result(
    { logged_out: removed, session_ended: ended, credentials_file: cli.store.file },
    (s) => {
      if (!removed) return "Not logged in: no stored credentials.\n";
      const lines = [`${s.green("✓")} Removed ${cli.store.file}.`];
      if (ended) lines.push(`Session ended on ${stored!.api_url}.`);
      if (stored?.type === "api_key")
        lines.push(
          "The stored API key itself still works; revoke it with `latchkey token revoke ID` if it should not.",
        );
      return lines.join("\n") + "\n";
    },
  );
  if (cli.env.LATCHKEY_TOKEN)
    cli.out.warn("LATCHKEY_TOKEN is still set: unset it to stop using that credential");
  if (problem)
    throw new CliError(
      `${problem.message}: the session could not be ended on the server and stays valid until it expires`,
      problem.exitCode,
    );
}

function credentialLabel(who: WhoamiT, source: string, s: Style): string {
  if (who.credential_type === "api_key") {
    const from = source === "env" ? " (from LATCHKEY_TOKEN)" : "";
    return `API key ${s.bold(who.key_id ?? "?")}${from}`;
  }
  const factors = who.amr.includes("otp") ? "password + two-factor" : "password";
  return `session (${factors})`;
}

async function whoami(options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const who = await cli.api.get<WhoamiT>("/v1/auth/whoami");
  const source = cli.api.credential.source;
  cli.out.result({ ...who, api_url: cli.apiUrl, credential_source: source }, (s) =>
    fields(
      [
        [
          "Email",
          `${s.bold(who.email)} ${who.email_verified ? "(verified)" : s.dim("(not verified)")}`,
        ],
        ["User", who.user_id],
        ["Role", who.staff ? `${who.role} (staff)` : who.role],
        ["Plan", who.plan],
        ["Credential", credentialLabel(who, source, s)],
        ["Environment", who.environment],
        ["Project", who.project_id],
        ["Scopes", who.scopes.length ? wrap(who.scopes, 64) : s.dim("none")],
        ["Server", cli.apiUrl],
      ],
      s,
    ),
  );
}

async function setToken(key: string | undefined, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  warnIfInsecure(cli);
  let secret = key;
  if (secret === undefined || secret === "-")
    secret = isInteractive() ? await ask("API key: ", { hidden: true }) : await readAllStdin();
  secret = secret.trim();
  if (!secret) throw usageError("an API key is required");
  if (looksLikeJwt(secret))
    throw usageError("that is an access token, not an API key", "store the key itself");
  // Checked before anything is written: a bad key leaves the old credentials untouched.
  const who = await cli.api.get<WhoamiT>("/v1/auth/whoami", { auth: { bearer: secret } });
  if (who.credential_type !== "api_key")
    throw usageError("that is not an API key", "to sign in as yourself, use `latchkey login`");
  cli.store.save({ api_url: cli.apiUrl, type: "api_key", key: secret });
  cli.out.result(
    {
      stored: true,
      api_url: cli.apiUrl,
      key_id: who.key_id,
      email: who.email,
      environment: who.environment,
      scopes: who.scopes,
      credentials_file: cli.store.file,
    },
    (s) =>
      `${s.green("✓")} Stored API key ${s.bold(who.key_id ?? "?")} (${who.environment}) of ${who.email} ` +
      `for ${cli.apiUrl} in ${cli.store.file}.\n`,
  );
  if (cli.env.LATCHKEY_TOKEN)
    cli.out.warn("LATCHKEY_TOKEN is set and wins over the stored key until you unset it");
}

function loginCommand(): Command {
  return withCommonOptions(
    new Command("login")
      .description("sign in with email and password (and a 2FA code when the account has one)")
      .option("--email <email>", "your account's email (asked on a terminal when left out)")
      .option("--password-stdin", "read the password from stdin, for scripts")
      .option("--code <code>", "a current 2FA code or a backup code, instead of being asked"),
  ).action(login);
}

function logoutCommand(): Command {
  return withCommonOptions(
    new Command("logout").description(
      "end the session on the server and remove stored credentials",
    ),
  ).action(logout);
}

function whoamiCommand(): Command {
  return withCommonOptions(
    new Command("whoami").description(
      "show who the current credential is: identity, credential type, environment, effective scopes",
    ),
  ).action(whoami);
}

/** login, logout, whoami, and the `auth` group (set-token, plus the same three). */
export function authCommands(): Command[] {
  const auth = new Command("auth").description("credentials of this CLI");
  auth.addCommand(
    withCommonOptions(
      new Command("set-token")
        .description(
          "store an API key for this CLI, after checking it with the server (KEY `-` or none: read from stdin)",
        )
        .argument("[key]", "the API key (lk_live_… / lk_test_…)"),
    ).action(setToken),
  );
  auth.addCommand(loginCommand());
  auth.addCommand(logoutCommand());
  auth.addCommand(whoamiCommand());
  auth.addCommand(reauthenticateCommand());
  return [loginCommand(), logoutCommand(), whoamiCommand(), auth];
}
