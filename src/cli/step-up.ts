/**
 * Step-up in the CLI (SPEC §9): a command the server answers with 401
 * `reauthentication_required` asks for the password (and the 2FA code when 2FA is on), calls
 * `POST /v1/auth/reauthenticate`, stores the fresh access token and retries the command
 * once. In scripts: `--password-stdin` (and `--code`), or exit 3 with what to pass.
 */
import { Command } from "commander";
import type { ReauthenticatedT } from "../api/lifecycle.js";
import { secondFactorBody } from "./auth.js";
import {
  contextOf,
  warnIfInsecure,
  withCommonOptions,
  type Cli,
  type CommonOptions,
} from "./context.js";
import { ApiError, authError, usageError } from "./exit.js";
import type { ReauthenticateProof } from "./http.js";
import { ask, isInteractive, readAllStdin } from "./prompt.js";

export interface StepUpOptions {
  passwordStdin?: boolean;
  code?: string;
}

/** Adds `--password-stdin` and `--code` for step-up to a sensitive command. */
export function withStepUpOptions(command: Command, code = true): Command {
  command.option(
    "--password-stdin",
    "read your password from stdin, to confirm it is you when the server asks (step-up)",
  );
  if (code)
    command.option("--code <code>", "with 2FA on: a current code or a backup code, for step-up");
  return command;
}

const NEEDS_PROOF = [
  "pass --password-stdin (and --code when 2FA is on), run the command on a terminal, " +
    "or run `latchkey auth reauthenticate` first",
];

/**
 * Arms the command's client: on `reauthentication_required` it reauthenticates with what
 * `options` give or what a person types, once. `password` is a password already read for
 * this command (`password change` reads the current one), used instead of asking again.
 */
export function enableStepUp(
  cli: Cli,
  options: StepUpOptions,
  known: { password?: string; code?: string; note?: string } = {},
): void {
  cli.api.reauthenticator = async (send) => {
    const terminal = isInteractive() && !options.passwordStdin;
    let password = known.password;
    if (password === undefined) {
      if (options.passwordStdin) password = await readAllStdin();
      else if (terminal) {
        process.stderr.write("This action needs you to confirm it is you.\n");
        password = await ask("Password: ", { hidden: true });
      } else
        throw authError(
          "this action needs a recent sign-in: confirm your password",
          ...NEEDS_PROOF,
        );
    }
    if (!password) throw usageError("a password is required to confirm it is you");
    const code = known.code ?? options.code;
    const proof: ReauthenticateProof = { password, ...(code ? secondFactorBody(code) : {}) };
    const confirmed = await proveWith(send, proof, terminal);
    if (known.note && isInteractive()) process.stderr.write(`${known.note}\n`);
    return confirmed;
  };
}

/** Sends the proof; on a terminal, asks for the 2FA code when the server says one is needed. */
async function proveWith(
  send: (proof: ReauthenticateProof) => Promise<ReauthenticatedT>,
  proof: ReauthenticateProof,
  terminal: boolean,
): Promise<ReauthenticatedT> {
  try {
    return await send(proof);
  } catch (error) {
    const hasCode = proof.code !== undefined || proof.backup_code !== undefined;
    if (!(error instanceof ApiError) || error.code !== "mfa_required" || hasCode) throw error;
    if (!terminal)
      throw authError("two-factor authentication is on: a code is needed too", ...NEEDS_PROOF);
    const answer = await ask("Two-factor code (or a backup code): ");
    return send({ password: proof.password, ...secondFactorBody(answer) });
  }
}

/** `latchkey auth reauthenticate`: confirm it is you now, so the next sensitive commands pass. */
async function reauthenticate(options: CommonOptions & StepUpOptions): Promise<void> {
  const cli = contextOf(options);
  warnIfInsecure(cli);
  const stored = cli.api.credential;
  if (stored.source !== "file" || stored.stored.type !== "session")
    throw authError(
      "only a signed-in session can reauthenticate (not an API key or LATCHKEY_TOKEN)",
      "run `latchkey login`",
    );
  enableStepUp(cli, options);
  const fresh = await cli.api.reauthenticateNow();
  cli.out.result(
    {
      reauthenticated: true,
      auth_time: fresh.auth_time,
      step_up_expires_at: fresh.step_up_expires_at,
    },
    (s) =>
      `${s.green("✓")} Confirmed. Sensitive actions are allowed until ${fresh.step_up_expires_at}.\n`,
  );
}

export function reauthenticateCommand(): Command {
  return withCommonOptions(
    withStepUpOptions(
      new Command("reauthenticate").description(
        "confirm it is you (password, and a 2FA code when on): sensitive actions then pass for a while",
      ),
    ),
  ).action(reauthenticate);
}
