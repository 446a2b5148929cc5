/**
 * Test support for the CLI: runs the commands in-process (runCli, the function the binary
 * wraps) or, for the process boundary, the real compiled binary (`node bin/latchkey.js`) in a
 * child process; each test with its own temporary HOME and XDG_CONFIG_HOME. Plus an
 * authenticator (RFC 6238 by hand over node:crypto) and a tmux driver for terminal prompts.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { runCli } from "../../src/cli/index.js";

export const BIN = resolve(import.meta.dirname, "../../bin/latchkey.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string>;
}

export interface DialogueStep {
  when: RegExp;
  answer: (match: RegExpMatchArray) => string;
}

/** A stream that keeps what is written to it (a pipe, as far as the CLI can tell: no TTY). */
class Capture extends Writable {
  text = "";

  constructor(private readonly onWrite: () => void = () => undefined) {
    super({ decodeStrings: false });
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    done();
    this.onWrite();
  }
}

/** One user's machine: a home and config folder of its own, and the server to talk to. */
export class Machine {
  readonly home: string;
  readonly configHome: string;

  constructor(
    readonly apiUrl: string,
    readonly extraEnv: Record<string, string> = {},
  ) {
    this.home = mkdtempSync(join(tmpdir(), "latchkey-cli-"));
    this.configHome = join(this.home, "config");
  }

  get credentialsDir(): string {
    return join(this.configHome, "latchkey");
  }

  get credentialsFile(): string {
    return join(this.credentialsDir, "credentials.json");
  }

  credentials(): Record<string, any> {
    return JSON.parse(readFileSync(this.credentialsFile, "utf8"));
  }

  hasCredentials(): boolean {
    try {
      statSync(this.credentialsFile);
      return true;
    } catch {
      return false;
    }
  }

  /** Stores a session as `latchkey login` would, to set up tests that are not about logging in. */
  adopt(pair: { access_token: string; refresh_token: string; expires_in: number }): void {
    mkdirSync(this.credentialsDir, { recursive: true, mode: 0o700 });
    const stored = {
      api_url: this.apiUrl,
      type: "session",
      access_token: pair.access_token,
      refresh_token: pair.refresh_token,
      expires_at: new Date(Date.now() + pair.expires_in * 1000).toISOString(),
    };
    writeFileSync(this.credentialsFile, JSON.stringify(stored), { mode: 0o600 });
  }

  /** Only what the CLI needs: nothing leaks in from the developer's own environment. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: this.home,
      XDG_CONFIG_HOME: this.configHome,
      LATCHKEY_URL: this.apiUrl,
      ...this.extraEnv,
      ...extra,
    };
  }

  /**
   * Runs `latchkey ...args` in this process (runCli, with this machine's environment and
   * streams of its own); stdin gets `input` (then EOF), or nothing. Same output and exit code
   * as the binary, without a Node start per command.
   */
  async run(args: string[], options: RunOptions = {}): Promise<CliResult> {
    const stdout = new Capture();
    const stderr = new Capture();
    const stdin = Readable.from(options.input ? [Buffer.from(options.input)] : []);
    const code = await runCli(args, { env: this.env(options.env), stdout, stderr, stdin });
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  /** Runs the real binary (`node bin/latchkey.js ...args`) in a child process: for the process boundary. */
  spawn(args: string[], options: RunOptions = {}): Promise<CliResult> {
    return new Promise((done, fail) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        env: this.env(options.env),
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
      child.on("error", fail);
      child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(options.input ?? "");
    });
  }

  /** `latchkey ... -o json` in-process, expecting exit 0 and nothing but JSON on stdout. */
  async json<T = any>(args: string[], options: RunOptions = {}) {
    const result = await this.run([...args, "-o", "json"], options);
    if (result.code !== 0)
      throw new Error(`latchkey ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  }

  /**
   * Runs `latchkey ...args` in-process and answers its stdin as output appears: each step
   * waits until the output so far (stdout + stderr) matches, then writes the answer line.
   */
  async dialogue(
    args: string[],
    steps: DialogueStep[],
    options: { env?: Record<string, string> } = {},
  ): Promise<CliResult> {
    const stdin = new PassThrough();
    let step = 0;
    const stdout = new Capture(() => advance());
    const stderr = new Capture(() => advance());
    const advance = () => {
      const current = steps[step];
      if (!current) return;
      const match = (stdout.text + stderr.text).match(current.when);
      if (!match) return;
      step += 1;
      stdin.write(current.answer(match) + "\n");
      if (step === steps.length) stdin.end();
      advance();
    };
    const code = await runCli(args, { env: this.env(options.env), stdout, stderr, stdin });
    stdin.destroy();
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  /** `dialogue` with the real binary in a child process, its stdin a pipe. */
  spawnDialogue(
    args: string[],
    steps: DialogueStep[],
    options: { env?: Record<string, string> } = {},
  ): Promise<CliResult> {
    return new Promise((done, fail) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        env: this.env(options.env),
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      let step = 0;
      const advance = () => {
        const current = steps[step];
        if (!current) return;
        const match = (stdout + stderr).match(current.when);
        if (!match) return;
        step += 1;
        child.stdin.write(current.answer(match) + "\n");
        if (step === steps.length) child.stdin.end();
        advance();
      };
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8");
        advance();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8");
        advance();
      });
      child.on("error", fail);
      child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
    });
  }

  cleanup(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}

export function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

export { authenticatorCode as totp } from "../helpers/authenticator.js";
import { authenticatorCode as totp } from "../helpers/authenticator.js";

/** A six-digit code that is certainly not the current one (nor one step either side). */
export function wrongCode(secret: string, atMs: number): string {
  const near = new Set([-1, 0, 1].map((step) => totp(secret, atMs + step * 30_000)));
  let candidate = 0;
  while (near.has(String(candidate).padStart(6, "0"))) candidate += 1;
  return String(candidate).padStart(6, "0");
}

/**
 * The server's clock: real time at the start (so relative times read naturally), 5 s into a
 * TOTP step; tests move it forward instead of sleeping. A used code is never accepted twice,
 * so a test steps the clock before each new code.
 */
export function testClock() {
  const start = Math.floor(Date.now() / 30_000) * 30_000 + 5_000;
  const clock = {
    ms: start,
    now: () => clock.ms,
    step(n = 1) {
      clock.ms += n * 30_000;
    },
    advance(ms: number) {
      clock.ms += ms;
    },
  };
  return clock;
}

const exec = promisify(execFile);

/**
 * A real terminal for prompts: the command runs in a detached tmux session on a private
 * socket; `expect` polls the screen, `type` sends keys.
 */
export class Terminal {
  private readonly socket = `latchkey-test-${process.pid}-${randomBytes(4).toString("hex")}`;
  private started = false;

  static async isAvailable(): Promise<boolean> {
    try {
      await exec("tmux", ["-V"]);
      return true;
    } catch {
      return false;
    }
  }

  private tmux(...args: string[]) {
    return exec("tmux", ["-L", this.socket, "-f", "/dev/null", ...args]);
  }

  /** Starts `latchkey ...args` with `env`; the pane stays open after it exits, showing the code. */
  async start(args: string[], env: Record<string, string>): Promise<void> {
    const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    const assignments = Object.entries(env).map(([k, v]) => quote(`${k}=${v}`));
    const command = [
      "env",
      "-i",
      ...assignments,
      quote(process.execPath),
      quote(BIN),
      ...args.map(quote),
    ].join(" ");
    await this.tmux(
      "new-session",
      "-d",
      "-s",
      "cli",
      "-x",
      "160",
      "-y",
      "50",
      `${command}; echo "[exit $?]"; sleep 120`,
    );
    this.started = true;
  }

  /** What the pane shows; with `escapes`, including the colour escape sequences. */
  async screen(options: { escapes?: boolean } = {}): Promise<string> {
    const flags = options.escapes ? ["-p", "-e"] : ["-p"];
    const { stdout } = await this.tmux("capture-pane", ...flags, "-t", "cli", "-S", "-200");
    return stdout;
  }

  /** Waits until the screen matches (or fails after `timeoutMs` with the screen in the message). */
  async expect(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await this.screen();
      const match = text.match(pattern);
      if (match) return match;
      if (Date.now() > deadline)
        throw new Error(`terminal never showed ${pattern}; it shows:\n${text}`);
      await sleep(50);
    }
  }

  /** Types `text` literally, then Enter. */
  async type(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", "cli", "-l", text);
    await this.tmux("send-keys", "-t", "cli", "Enter");
  }

  /** The exit code the command ended with. */
  async exitCode(): Promise<number> {
    const match = await this.expect(/\[exit (\d+)\]/);
    return Number(match[1]);
  }

  async close(): Promise<void> {
    if (this.started) await this.tmux("kill-server").catch(() => undefined);
  }
}
