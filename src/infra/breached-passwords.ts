/**
 * Breached-password lists for NIST SP 800-63B §3.1.1.2, in the Pwned Passwords format
 * (uppercase SHA-1 hex, `:`, a count; one per line), from three kinds of source:
 *
 * - a file sorted by hash (`pwned-passwords-sha1-ordered-by-hash-*.txt`): binary search over
 *   byte offsets, a few small reads per lookup, nothing loaded in memory;
 * - a directory of range files (`<5-hex prefix>.txt` or `<prefix>`, holding `SUFFIX:COUNT`
 *   lines), as the Pwned Passwords downloader writes them;
 * - a range API (`https://…/range/`, a local mirror or api.pwnedpasswords.com): only the first
 *   5 hex characters of the password's SHA-1 leave the process (k-anonymity), never the
 *   password or its full hash.
 *
 * A source that cannot answer (missing file, timeout) answers "not known to be breached" and
 * the caller logs it: a broken list must not stop sign-ups (documented in SECURITY.md).
 */
import { createHash } from "node:crypto";
import { open, readFile, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";

export interface BreachedPasswords {
  /** How often the password appears in the list (0: not in it). */
  count(password: string): Promise<number>;
  close(): Promise<void>;
}

const HEX = 40;
const PREFIX = 5;

function sha1Hex(password: string): string {
  return createHash("sha1").update(password, "utf8").digest("hex").toUpperCase();
}

/** The count on a `SUFFIX:COUNT` (or `HASH:COUNT`) line whose hash part is `wanted`. */
function countIn(text: string, wanted: string): number {
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).toUpperCase() === wanted) {
      const count = Number.parseInt(line.slice(colon + 1), 10);
      return Number.isFinite(count) && count > 0 ? count : 1;
    }
  }
  return 0;
}

/** No list configured: nothing is known to be breached. */
export const noBreachedPasswords: BreachedPasswords = {
  count: () => Promise.resolve(0),
  close: () => Promise.resolve(),
};

/** A whole list in one file sorted by hash: binary search on byte offsets. */
export class SortedHashFile implements BreachedPasswords {
  private handle: Promise<{ file: FileHandle; size: number }> | null = null;

  constructor(private readonly path: string) {}

  private opened(): Promise<{ file: FileHandle; size: number }> {
    this.handle ??= open(this.path, "r").then(async (file) => ({
      file,
      size: (await file.stat()).size,
    }));
    return this.handle;
  }

  async count(password: string): Promise<number> {
    const wanted = sha1Hex(password);
    const { file, size } = await this.opened();
    // Invariant: every line starting before `low` sorts below `wanted`; none after `high`
    // can hold it. Each probe reads the first whole line at or after an offset.
    let low = 0;
    let high = size;
    const buffer = Buffer.alloc(256);
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      const line = await this.lineAfter(file, buffer, mid);
      if (line === null) {
        high = mid;
        continue;
      }
      const hash = line.text.slice(0, HEX).toUpperCase();
      if (hash === wanted) return countIn(line.text, wanted);
      if (hash < wanted) low = line.end;
      else high = mid;
    }
    // `low` is a line start (or 0): the line there is the last candidate.
    const line = await this.lineAt(file, buffer, low);
    return line ? countIn(line, wanted) : 0;
  }

  /** The first line that starts after `offset` (or at 0), with where it ends. */
  private async lineAfter(
    file: FileHandle,
    buffer: Buffer,
    offset: number,
  ): Promise<{ text: string; end: number } | null> {
    let start = offset;
    if (offset > 0) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, offset - 1);
      const newline = buffer.subarray(0, bytesRead).indexOf(10);
      if (newline < 0) return null;
      start = offset - 1 + newline + 1;
    }
    const text = await this.lineAt(file, buffer, start);
    return text === null ? null : { text, end: start + Buffer.byteLength(text) + 1 };
  }

  private async lineAt(file: FileHandle, buffer: Buffer, start: number): Promise<string | null> {
    const { bytesRead } = await file.read(buffer, 0, buffer.length, start);
    if (bytesRead === 0) return null;
    const chunk = buffer.subarray(0, bytesRead);
    const newline = chunk.indexOf(10);
    return chunk.subarray(0, newline < 0 ? bytesRead : newline).toString("latin1");
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (handle) await (await handle.catch(() => null))?.file.close();
  }
}

/** Range files in a directory, one per 5-hex prefix. */
export class RangeDirectory implements BreachedPasswords {
  constructor(private readonly dir: string) {}

  async count(password: string): Promise<number> {
    const hash = sha1Hex(password);
    const prefix = hash.slice(0, PREFIX);
    for (const name of [`${prefix}.txt`, prefix, `${prefix.toLowerCase()}.txt`]) {
      const text = await readFile(join(this.dir, name), "latin1").catch(() => null);
      if (text !== null) return countIn(text, hash.slice(PREFIX));
    }
    return 0;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A Pwned Passwords range API: `GET <base><prefix>` answers the range's suffixes. */
export class RangeApi implements BreachedPasswords {
  constructor(
    private readonly base: string,
    private readonly timeoutMs = 2_000,
    private readonly fetchRange: typeof fetch = fetch,
  ) {}

  async count(password: string): Promise<number> {
    const hash = sha1Hex(password);
    const response = await this.fetchRange(`${this.base}${hash.slice(0, PREFIX)}`, {
      // Padding hides the range's true size from anyone watching the traffic.
      headers: { "add-padding": "true", "user-agent": "latchkey" },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) throw new Error(`breached-password range API answered ${response.status}`);
    return countIn(await response.text(), hash.slice(PREFIX));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The source `LATCHKEY_BREACHED_PASSWORDS` names: an http(s) URL, a directory or a file. */
export async function breachedPasswordsFrom(source: string | null): Promise<BreachedPasswords> {
  if (!source) return noBreachedPasswords;
  if (/^https?:\/\//i.test(source))
    return new RangeApi(source.endsWith("/") ? source : `${source}/`);
  const found = await stat(source).catch(() => null);
  if (!found) throw new Error(`LATCHKEY_BREACHED_PASSWORDS: no file or directory at ${source}`);
  return found.isDirectory() ? new RangeDirectory(source) : new SortedHashFile(source);
}
