import { Command } from "commander";
import type {
  BackupCodesResponseT as BackupCodes,
  TwoFactorSetupResponseT as Setup,
  TwoFactorStatusT as Status,
} from "../api/twofa.js";
import { secondFactorBody } from "./auth.js";
import { contextOf, withCommonOptions, type Cli, type CommonOptions } from "./context.js";
import { ApiError } from "./exit.js";
import { calendarDate, fields, relativeTime, type Style } from "./output.js";
import { ask, isInteractive } from "./prompt.js";
import { enableStepUp, withStepUpOptions } from "./step-up.js";

const ATTEMPTS = 3;

/** Asks for a code until the server takes it (on a terminal, up to 3 tries); `send` makes the call. */
async function withCodePrompt<T>(
  question: string,
  send: (answer: string) => Promise<T>,
): Promise<T> {
  const tries = isInteractive() ? ATTEMPTS : 1;
  for (let attempt = 1; ; attempt++) {
    const answer = await ask(question);
    try {
      return await send(answer);
    } catch (error) {
      if (attempt >= tries || !(error instanceof ApiError) || error.code !== "invalid_mfa_code")
        throw error;
      process.stderr.write("That code is not valid; try again.\n");
    }
  }
}

function renderBackupCodes(codes: readonly string[], s: Style): string {
  const rows: string[] = [];
  for (let i = 0; i < codes.length; i += 2) rows.push(`  ${codes.slice(i, i + 2).join("    ")}`);
  return (
    `${s.bold("Backup codes")} — each works once, in place of a code from your app:\n\n` +
    rows.join("\n") +
    `\n\n${s.yellow("Store these now")} (a password manager, or printed and locked away): ` +
    `they are shown only this once.\n`
  );
}

async function enable(options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  // Step-up on a terminal (the code is read from stdin in scripts: reauthenticate first there).
  enableStepUp(cli, {});
  const setup = await cli.api.post<Setup>("/v1/auth/2fa/setup");
  const { default: QRCode } = await import("qrcode");
  const qr = await QRCode.toString(setup.otpauth_url, { type: "terminal", small: true });
  const s = cli.out.sayStyle;
  cli.out.say(
    `Scan this QR code with your authenticator app:\n\n${qr}\n` +
      `or enter this secret by hand: ${s.bold(setup.secret)}\n`,
  );
  const result = await withCodePrompt("Code from the app to confirm: ", (code) =>
    cli.api.post<BackupCodes>("/v1/auth/2fa/verify", { code: code.replace(/\s+/g, "") }),
  );
  cli.out.result(
    { enabled: true, backup_codes: result.backup_codes },
    (style) =>
      `${style.green("✓")} Two-factor authentication is on.\n\n` +
      renderBackupCodes(result.backup_codes, style),
  );
}

async function status(options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const st = await cli.api.get<Status>("/v1/auth/2fa/status");
  cli.out.result(st, (s) => {
    const text = fields(
      [
        ["Two-factor", st.enabled ? s.green("on") : s.yellow("off")],
        [
          "Enabled",
          st.enabled_at ? `${calendarDate(st.enabled_at)} (${relativeTime(st.enabled_at)})` : null,
        ],
        ["Backup codes", st.enabled ? `${st.backup_codes_remaining} left` : null],
      ],
      s,
    );
    const hint = !st.enabled
      ? "Turn it on with `latchkey 2fa enable`.\n"
      : st.backup_codes_remaining <= 3
        ? "Few backup codes left: get a new set with `latchkey 2fa backup-codes`.\n"
        : "";
    return text + hint;
  });
}

interface CodeOptions extends CommonOptions {
  code?: string;
  passwordStdin?: boolean;
}

/**
 * Step-up for disable and backup-codes: the password (and a code) confirm it is you; the
 * action then takes its own code, a newer one than the code just used (codes never replay).
 */
function armStepUp(cli: Cli, options: CodeOptions): void {
  enableStepUp(
    cli,
    { passwordStdin: options.passwordStdin },
    {
      note: "Confirmed. The action needs a code of its own: wait for the next code in your app, or use a backup code.",
    },
  );
}

/** The code from --code, else asked for (a terminal prompt, or one line of stdin). */
function sendCode<T>(cli: Cli, options: CodeOptions, send: (answer: string) => Promise<T>) {
  if (options.code !== undefined) return send(options.code);
  return withCodePrompt("Two-factor code (or a backup code): ", send);
}

function codeBody(answer: string): { code: string } {
  const body = secondFactorBody(answer);
  return { code: "code" in body ? body.code : body.backup_code };
}

async function disable(options: CodeOptions): Promise<void> {
  const cli = contextOf(options);
  armStepUp(cli, options);
  await sendCode(cli, options, (answer) =>
    cli.api.post<unknown>("/v1/auth/2fa/disable", codeBody(answer)),
  );
  cli.out.result(
    { enabled: false },
    (s) => `${s.green("✓")} Two-factor authentication is off; your backup codes no longer work.\n`,
  );
}

async function regenerate(options: CodeOptions): Promise<void> {
  const cli = contextOf(options);
  armStepUp(cli, options);
  const result = await sendCode(cli, options, (answer) =>
    cli.api.post<BackupCodes>("/v1/auth/2fa/backup-codes", codeBody(answer)),
  );
  cli.out.result(
    { backup_codes: result.backup_codes },
    (s) =>
      `${s.green("✓")} New backup codes; the old set no longer works.\n\n${renderBackupCodes(result.backup_codes, s)}`,
  );
}

const CODE_HELP = "a current code from your app (or a backup code), instead of being asked";

export function twofaCommand(): Command {
  const twofa = new Command("2fa").description("two-factor authentication (TOTP) of your account");
  twofa.addCommand(
    withCommonOptions(
      new Command("enable").description(
        "enrol an authenticator app (QR code), confirm a code, get your backup codes",
      ),
    ).action(enable),
  );
  twofa.addCommand(
    withCommonOptions(
      new Command("status").description("is two-factor on, and how many backup codes are left"),
    ).action(status),
  );
  twofa.addCommand(
    withCommonOptions(
      withStepUpOptions(
        new Command("disable")
          .description("turn two-factor off (asks for a current code)")
          .option("--code <code>", CODE_HELP),
        false,
      ),
    ).action(disable),
  );
  twofa.addCommand(
    withCommonOptions(
      withStepUpOptions(
        new Command("backup-codes")
          .description("replace your backup codes with a new set of 10 (asks for a current code)")
          .option("--code <code>", CODE_HELP),
        false,
      ),
    ).action(regenerate),
  );
  return twofa;
}
