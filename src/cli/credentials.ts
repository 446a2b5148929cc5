import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CliError, EXIT } from "./exit.js";

/** What `login` and `auth set-token` keep on disk, for the server at `api_url` only. */
export type StoredCredentials =
  | {
      api_url: string;
      type: "session";
      access_token: string;
      refresh_token: string;
      /** ISO time the access token expires. */
      expires_at: string;
    }
  | { api_url: string; type: "api_key"; key: string };

/** `$XDG_CONFIG_HOME/latchkey`, or `~/.config/latchkey` (a relative XDG path is ignored, per the XDG spec). */
export function configDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), ".config");
  return join(base, "latchkey");
}

function isStored(value: unknown): value is StoredCredentials {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  if (typeof v.api_url !== "string") return false;
  if (v.type === "api_key") return typeof v.key === "string";
  return (
    v.type === "session" &&
    typeof v.access_token === "string" &&
    typeof v.refresh_token === "string" &&
    typeof v.expires_at === "string"
  );
}

const LOCK_WAIT_MS = 10_000;
const STALE_LOCK_MS = 30_000;

/** The credentials file: folder 0700, file 0600, replaced atomically, refreshes serialised by a lock file. */
export class CredentialStore {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = join(dir, "credentials.json");
  }

  load(): StoredCredentials | null {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (!isStored(parsed))
      throw new CliError(`${this.file} is damaged`, EXIT.auth, [
        "sign in again with `latchkey login` (it replaces the file)",
      ]);
    return parsed;
  }

  /** Write to a temp file (0600) in the same folder, fsync, rename: readers see old or new, never half. */
  save(credentials: StoredCredentials): void {
    this.ensureDir();
    const temp = join(this.dir, `.credentials.${randomBytes(6).toString("hex")}.tmp`);
    const fd = openSync(temp, "wx", 0o600);
    try {
      writeSync(fd, JSON.stringify(credentials, null, 2) + "\n");
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      rmSync(temp, { force: true });
      throw error;
    }
    closeSync(fd);
    chmodSync(temp, 0o600);
    renameSync(temp, this.file);
  }

  /** Removes the file; true when there was one. */
  remove(): boolean {
    try {
      rmSync(this.file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }

  /**
   * Runs `task` while holding `credentials.json.lock`, so two latchkey processes never present
   * the same refresh token (the second would be a reuse and end the whole session).
   */
  async withLock<T>(task: () => Promise<T>): Promise<T> {
    this.ensureDir();
    const lock = `${this.file}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        closeSync(openSync(lock, "wx", 0o600));
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      if (this.isStale(lock)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new CliError(`${lock} is held by another latchkey process`, EXIT.failure, [
          "remove the file if no other latchkey is running",
        ]);
      await sleep(50);
    }
    try {
      return await task();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  private isStale(lock: string): boolean {
    try {
      return Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS;
    } catch {
      return false;
    }
  }

  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }
}
