import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { CliError, EXIT, usageError } from "./exit.js";

/** True when a person can answer prompts (stdin is a terminal). */
export function isInteractive(): boolean {
  return process.stdin.isTTY === true;
}

/**
 * Asks one question on stderr (stdout stays clean for -o json) and reads one line from stdin.
 * With `hidden`, nothing typed is echoed: the readline output is muted once the question is out.
 */
export function ask(question: string, options: { hidden?: boolean } = {}): Promise<string> {
  let muted = false;
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const terminal = isInteractive();
  const rl = createInterface({ input: process.stdin, output: sink, terminal });
  return new Promise<string>((resolve, reject) => {
    let answered = false;
    rl.on("SIGINT", () => {
      rl.close();
      process.stderr.write("\n");
      reject(new CliError("cancelled", EXIT.cancelled));
    });
    rl.on("close", () => {
      if (!answered) reject(usageError(`no answer to "${question.trim()}" (end of input)`));
    });
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      if (muted && terminal) process.stderr.write("\n");
      resolve(answer.trim());
    });
    muted = options.hidden === true;
  });
}

/** y/N on a terminal; anything but "y" or "yes" is a no. */
export async function confirm(question: string): Promise<boolean> {
  const answer = await ask(`${question} [y/N] `);
  return /^y(es)?$/i.test(answer);
}

/** All of stdin, less one trailing newline (as `docker login --password-stdin` reads it). */
export async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}
