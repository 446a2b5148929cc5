/** The real server as a child process (`node dist/main.js serve`, dist built by globalSetup). */
import { spawn, type ChildProcess } from "node:child_process";

export interface Child {
  process: ChildProcess;
  url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

/** `nodeFlags`: options for node itself (V8's among them), before the script. */
export function startChild(
  env: Record<string, string | undefined>,
  nodeFlags: string[] = [],
): Promise<Child> {
  const child = spawn(process.execPath, [...nodeFlags, "dist/main.js", "serve"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ process: child, url: match[1]!, output: () => out });
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("exit", (code) =>
      reject(new Error(`server exited (${code}) before listening: ${out}`)),
    );
  });
}

/** Waits for the child to exit after `signal` (SIGKILL: no cleanup at all). */
export function stopChild(child: Child, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.process.exitCode !== null || child.process.signalCode !== null) return resolve();
    child.process.once("exit", () => resolve());
    child.process.kill(signal);
  });
}
