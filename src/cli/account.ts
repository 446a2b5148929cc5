/** `latchkey password …` and `latchkey email …` (SPEC §9): passwords and the verified address. */
import { Command } from "commander";
import type {
  EmailVerificationSentT,
  EmailVerifiedT,
  PasswordChangedT,
  PasswordResetAcceptedT,
} from "../api/lifecycle.js";
import { secondFactorBody } from "./auth.js";
import { contextOf, warnIfInsecure, withCommonOptions, type CommonOptions } from "./context.js";
import { ApiError, authError, usageError } from "./exit.js";
import { ask, isInteractive, readAllStdin } from "./prompt.js";
import { enableStepUp, withStepUpOptions, type StepUpOptions } from "./step-up.js";

interface PasswordInput extends CommonOptions {
  passwordStdin?: boolean;
  /** `password change` with 2FA on: a code for step-up. */
  code?: string;
}

/**
 * Passwords come from a hidden prompt or from stdin, never from the command line (where
 * `ps` and shell history would show them). With --password-stdin, one per line, in order.
 */
async function readPasswords(options: PasswordInput, labels: string[]): Promise<string[]> {
  if (options.passwordStdin) {
    const lines = (await readAllStdin()).split(/\r?\n/);
    if (lines.length < labels.length || lines.slice(0, labels.length).some((l) => !l))
      throw usageError(
        `--password-stdin expects ${labels.length === 1 ? "one line" : `${labels.length} lines`} on stdin: ${labels.join(", then ")}`,
      );
    return lines.slice(0, labels.length);
  }
  if (!isInteractive())
    throw usageError("no terminal to ask for passwords", "pipe them in with --password-stdin");
  const answers: string[] = [];
  for (const label of labels) answers.push(await ask(`${label}: `, { hidden: true }));
  return answers;
}

/** On a terminal the new password is typed twice. */
async function newPasswordTwice(options: PasswordInput, first: string): Promise<void> {
  if (options.passwordStdin) return;
  const again = await ask("Repeat the new password: ", { hidden: true });
  if (again !== first) throw usageError("the two new passwords differ; nothing was changed");
}

/** A token as given: the token itself, or the whole link from the mail (`…?token=…`). */
export function tokenFrom(text: string): string {
  const trimmed = text.trim();
  try {
    const url = new URL(trimmed);
    const token = url.searchParams.get("token");
    if (token) return token;
  } catch {
    // not a URL: the token itself
  }
  if (!trimmed) throw usageError("a token is required");
  return trimmed;
}

async function change(options: PasswordInput): Promise<void> {
  const cli = contextOf(options);
  warnIfInsecure(cli);
  const [current, next] = await readPasswords(options, ["Current password", "New password"]);
  await newPasswordTwice(options, next!);
  // Step-up: the current password just typed confirms it is you (plus a code with 2FA on).
  enableStepUp(cli, options, { password: current! });
  const result = await cli.api.post<PasswordChangedT>("/v1/auth/password", {
    current_password: current,
    new_password: next,
  });
  cli.out.result(
    { changed: true, ...result },
    (s) =>
      `${s.green("✓")} Password changed. ${result.sessions_ended} other session(s) signed out; this one stays.\n`,
  );
}

async function reset(options: CommonOptions & { email?: string }): Promise<void> {
  const cli = contextOf(options);
  const email = options.email?.trim();
  if (!email) throw usageError("--email is required");
  const result = await cli.api.post<PasswordResetAcceptedT>(
    "/v1/auth/password/reset",
    { email },
    { auth: "none" },
  );
  cli.out.result(
    { ...result, email },
    (s) =>
      `${s.green("✓")} If an account uses ${email}, a reset link is on its way.\n` +
      `Open it in a browser, or run \`latchkey password reset-confirm --token <link or token>\`.\n`,
  );
}

interface ConfirmOptions extends PasswordInput {
  token?: string;
  code?: string;
}

async function resetConfirm(options: ConfirmOptions): Promise<void> {
  const cli = contextOf(options);
  warnIfInsecure(cli);
  if (!options.token) throw usageError("--token is required (the token or the mailed link)");
  const token = tokenFrom(options.token);
  const [password] = await readPasswords(options, ["New password"]);
  await newPasswordTwice(options, password!);
  const send = (code?: string) =>
    cli.api.post<PasswordChangedT>(
      "/v1/auth/password/reset/confirm",
      { token, new_password: password, ...(code === undefined ? {} : secondFactorBody(code)) },
      { auth: "none" },
    );
  let result: PasswordChangedT;
  try {
    result = await send(options.code);
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "mfa_required") throw error;
    if (!isInteractive() || options.passwordStdin)
      throw authError(
        "this account has two-factor authentication on",
        "pass --code with a current code from your authenticator app (or a backup code)",
      );
    result = await send(await ask("Two-factor code (or a backup code): "));
  }
  cli.out.result(
    { reset: true, ...result },
    (s) =>
      `${s.green("✓")} Password reset; every session was signed out. Sign in with \`latchkey login\`.\n`,
  );
}

async function verify(token: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const result = await cli.api.post<EmailVerifiedT>(
    "/v1/auth/email/verify",
    { token: tokenFrom(token) },
    { auth: "none" },
  );
  cli.out.result(result, (s) =>
    result.previous_email
      ? `${s.green("✓")} Your account's address is now ${s.bold(result.email)} (it was ${result.previous_email}).\n`
      : `${s.green("✓")} ${s.bold(result.email)} is verified.\n`,
  );
}

async function changeEmail(address: string, options: CommonOptions & StepUpOptions) {
  const cli = contextOf(options);
  enableStepUp(cli, options);
  const result = await cli.api.post<EmailVerificationSentT>("/v1/auth/email", { email: address });
  cli.out.result(
    result,
    (s) =>
      `${s.green("✓")} A confirmation link is on its way to ${s.bold(result.email)}: the account moves there once it is opened (\`latchkey email verify LINK\`). Your current address got a notice.\n`,
  );
}

async function resend(options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const result = await cli.api.post<EmailVerificationSentT>("/v1/auth/email/verify/resend");
  cli.out.result(
    result,
    (s) => `${s.green("✓")} A new verification link is on its way to ${s.bold(result.email)}.\n`,
  );
}

export function passwordCommand(): Command {
  const password = new Command("password").description("change or reset your password");
  password.addCommand(
    withCommonOptions(
      new Command("change")
        .description("change your password (signs out your other sessions)")
        .option(
          "--password-stdin",
          "read the current, then the new password from stdin (two lines)",
        )
        .option(
          "--code <code>",
          "with 2FA on: a current code or a backup code, when the server asks you to confirm it is you",
        ),
    ).action(change),
  );
  password.addCommand(
    withCommonOptions(
      new Command("reset")
        .description("mail a password-reset link to an account's address")
        .option("--email <email>", "the account's email"),
    ).action(reset),
  );
  password.addCommand(
    withCommonOptions(
      new Command("reset-confirm")
        .description("set a new password with the mailed reset link (all sessions end)")
        .option("--token <token>", "the token, or the whole link from the mail")
        .option("--password-stdin", "read the new password from stdin")
        .option("--code <code>", "with 2FA on: a current code or a backup code"),
    ).action(resetConfirm),
  );
  return password;
}

export function emailCommand(): Command {
  const email = new Command("email").description("your account's email address");
  email.addCommand(
    withCommonOptions(
      new Command("verify")
        .description(
          "verify your address with the token (or link) mailed at signup, or confirm an email change",
        )
        .argument("<token>", "the token, or the whole link from the mail"),
    ).action(verify),
  );
  email.addCommand(
    withCommonOptions(new Command("resend").description("mail a new verification link")).action(
      resend,
    ),
  );
  email.addCommand(
    withCommonOptions(
      withStepUpOptions(
        new Command("change")
          .description(
            "move your account to a new address (a link mailed there confirms it; asks you to confirm it is you when the sign-in is old)",
          )
          .argument("<new-email>", "the new address"),
      ),
    ).action(changeEmail),
  );
  return email;
}
