import { spawn, type ChildProcess } from "node:child_process";

/** A child process the bench started; every one is stopped before the bench exits. */
export interface Child {
  name: string;
  process: ChildProcess;
  /** The URL the child printed once ready. */
  url: string;
  /** Messages the child sent over IPC (e.g. the keys it seeded). */
  messages: unknown[];
  stop(): Promise<void>;
}

const running = new Set<Child>();

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Stdout line that says the child is ready; group 1 is its URL. */
  ready: RegExp;
  timeoutMs?: number;
  ipc?: boolean;
}

/** Starts a process and resolves once it prints its ready line. Output is kept for errors only. */
export function startChild(options: StartOptions): Promise<Child> {
  // An `undefined` value removes an inherited variable (e.g. the caller's DATABASE_URL).
  const env = Object.fromEntries(
    Object.entries({ ...process.env, ...options.env }).filter(([, v]) => v !== undefined),
  );
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env,
    stdio: options.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let ready = false;
  const messages: unknown[] = [];
  child.on("message", (message) => messages.push(message));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${options.name} did not start in time:\n${output.slice(-2000)}`));
    }, options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      // Keep only a tail, so a chatty child cannot grow the bench's memory.
      output = (output + chunk.toString()).slice(-8000);
      const match = options.ready.exec(output);
      if (match && !ready) {
        ready = true;
        clearTimeout(timer);
        handle.url = match[1] ?? "";
        running.add(handle);
        resolve(handle);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => {
      running.delete(handle);
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`${options.name} exited (${code ?? signal}):\n${output.slice(-2000)}`));
      }
    });
    const handle: Child = {
      name: options.name,
      process: child,
      url: "",
      messages,
      stop: () => stopProcess(child).finally(() => running.delete(handle)),
    };
  });
}

/** SIGTERM, then SIGKILL if the child has not exited within `graceMs`. */
export function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Stops every child still running (on success, failure or Ctrl-C). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()));
}

/** Runs a command to completion, inheriting the terminal; rejects on a non-zero exit. */
export function run(command: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: "inherit" });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited ${code}`)),
    );
  });
}
