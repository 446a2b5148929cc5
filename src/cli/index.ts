#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { emailCommand, passwordCommand } from "./account.js";
import { auditCommand } from "./audit.js";
import { authCommands } from "./auth.js";
import { VERSION } from "./context.js";
import { CliError, EXIT } from "./exit.js";
import { isColorWanted, makeStyle } from "./output.js";
import { scanCommand } from "./scan.js";
import { serveCommand } from "./serve.js";
import { tokenCommand } from "./tokens.js";
import { twofaCommand } from "./twofa.js";
import { passkeyCommand } from "./passkeys.js";
import { usersCommand } from "./users.js";
import { orgCommand } from "./orgs.js";
import { webhookCommand } from "./webhooks.js";

/** Settings `addCommand` does not pass down: every command throws instead of exiting, hints on error. */
function configure(command: Command): void {
  command
    .exitOverride()
    .showHelpAfterError(`(run \`${fullName(command)} --help\` for usage)`)
    .showSuggestionAfterError(true);
  for (const sub of command.commands) configure(sub);
}

function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

const ADMIN_DESCRIPTION = "operator tasks on this machine's data dir";

/**
 * `admin` needs the server's config and crypto modules (most of a second to load on a busy
 * machine): loaded only when the command line names it; otherwise a stub lists it in --help.
 */
async function adminFor(argv: readonly string[]): Promise<Command> {
  if (!argv.slice(2).includes("admin")) return new Command("admin").description(ADMIN_DESCRIPTION);
  const { adminCommand } = await import("./admin.js");
  return adminCommand();
}

/** The `latchkey` program. Each command group lives in its own file beside this one. */
export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command("latchkey")
    .description("Latchkey: accounts, two-factor sign-in and scoped API keys")
    .version(VERSION, "-V, --version", "print the version")
    .addHelpText(
      "after",
      "\nEnvironment: LATCHKEY_URL (server), LATCHKEY_TOKEN (credential, wins over stored ones),\n" +
        "XDG_CONFIG_HOME (credentials in $XDG_CONFIG_HOME/latchkey), NO_COLOR.\n" +
        "Exit codes: 0 ok, 1 failure (incl. scope insufficient), 2 usage, 3 authentication, 4 server unreachable.",
    );
  for (const command of authCommands()) program.addCommand(command);
  program.addCommand(twofaCommand());
  program.addCommand(passkeyCommand());
  program.addCommand(passwordCommand());
  program.addCommand(emailCommand());
  program.addCommand(tokenCommand());
  program.addCommand(usersCommand());
  program.addCommand(auditCommand());
  program.addCommand(webhookCommand());
  program.addCommand(orgCommand());
  program.addCommand(scanCommand());
  program.addCommand(serveCommand());
  program.addCommand(await adminFor(argv));
  configure(program);
  return program;
}

/** Prints an error on stderr and returns its exit code (SPEC §6). */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has already printed its message (or the help / version asked for).
    return error.code === "commander.helpDisplayed" || error.code === "commander.version"
      ? EXIT.ok
      : EXIT.usage;
  }
  const s = makeStyle(isColorWanted(process.stderr, process.env));
  const message = error instanceof Error ? error.message : String(error);
  const hints = error instanceof CliError ? error.hints : [];
  process.stderr.write(
    `${s.red("latchkey: error:")} ${message}\n` + hints.map((h) => `  ${s.dim(h)}\n`).join(""),
  );
  return error instanceof CliError ? error.exitCode : EXIT.failure;
}

/** Parses `argv` (as process.argv: node, script, then the arguments) and runs it; the exit code. */
async function execute(argv: readonly string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync([...argv]);
    return EXIT.ok;
  } catch (error) {
    return report(error);
  }
}

/** The process the installed `latchkey` runs in: its arguments, streams and exit code. */
export async function run(argv: string[]): Promise<void> {
  // `latchkey token list | head -1`: a closed pipe is the reader's choice, not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? EXIT.ok);
    throw error;
  });
  const code = await execute(argv);
  if (code !== EXIT.ok) process.exitCode = code;
}

/** What one in-process run of the CLI reads and writes instead of the process's own. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
}

const STREAMS = ["stdout", "stderr", "stdin"] as const;
let running: Promise<unknown> = Promise.resolve();

/**
 * Runs `latchkey ...args` inside this process and resolves to its exit code, with the
 * output, exit code and prompts of the installed command (tests call this; `run` is the
 * process wrapper). The commands read the process's environment and streams, so for the
 * duration of the run those are `io`'s; runs queue, one at a time, so none sees another's.
 */
export function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const turn = running.then(async () => {
    const saved = STREAMS.map((name) => Object.getOwnPropertyDescriptor(process, name)!);
    const env = process.env;
    process.env = io.env;
    for (const name of STREAMS)
      Object.defineProperty(process, name, { value: io[name], configurable: true, writable: true });
    try {
      return await execute(["node", "latchkey", ...args]);
    } finally {
      STREAMS.forEach((name, i) => Object.defineProperty(process, name, saved[i]!));
      process.env = env;
    }
  });
  running = turn.catch(() => undefined);
  return turn;
}
