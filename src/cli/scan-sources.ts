/**
 * What `latchkey scan` reads: files and directories (walked without following symlinks),
 * stdin, or every blob of a git repository's history (through the `git` binary, arguments
 * passed as an array: no shell ever parses a path).
 */
import { spawn } from "node:child_process";
import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { join, sep } from "node:path";

/** One piece of text to search, and where it came from. */
export interface Blob {
  /** As shown to the user: under the path they named, `/`-separated; `-` for stdin. */
  path: string;
  /** In git history mode: the commit where this content first appeared at `path`. */
  commit?: string;
  bytes: Buffer;
}

/** Why files were passed over, counted for the summary. */
export interface Skipped {
  tooLarge: number;
  binary: number;
  symlinks: number;
  excluded: number;
  unreadable: number;
}

export function noneSkipped(): Skipped {
  return { tooLarge: 0, binary: 0, symlinks: 0, excluded: 0, unreadable: 0 };
}

export interface ScanLimits {
  /** Files (and blobs) larger than this many bytes are skipped. */
  maxBytes: number;
  /**
   * Directory or file names never entered or read while walking (e.g. `.git`, `node_modules`).
   * Not applied to git history: a key once committed there is public wherever it sat.
   */
  exclude: ReadonlySet<string>;
}

/** Git's own heuristic: a NUL byte in the first 8000 bytes makes content binary. */
export function isBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, 8000).includes(0);
}

/** A walked file's path as the user named its root (relative stays relative), `/`-separated. */
export function displayPath(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}

/** Reads stdin to its end, at most `maxBytes` (more is an error the caller reports). */
export async function readStdin(stdin: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > maxBytes) throw new RangeError(`stdin is larger than ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The files under `root` (a file or a directory), depth first in name order. Symlinks met
 * while walking are never followed (they could lead out of the tree, or round in a loop);
 * `root` itself was named by the user and is read wherever it points.
 */
export async function* walkFiles(
  root: string,
  limits: ScanLimits,
  skipped: Skipped,
): AsyncGenerator<Blob> {
  const info = await stat(root);
  if (info.isFile()) {
    const blob = await readSmallFile(root, info.size, limits, skipped);
    if (blob) yield blob;
    return;
  }
  if (!info.isDirectory()) return;
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      skipped.unreadable += 1;
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const files: string[] = [];
    const dirs: string[] = [];
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (limits.exclude.has(entry.name)) skipped.excluded += 1;
      else if (entry.isSymbolicLink()) skipped.symlinks += 1;
      else if (entry.isDirectory()) dirs.push(path);
      else if (entry.isFile()) files.push(path);
    }
    // Depth first, in name order: the stack takes the last pushed first.
    pending.push(...dirs.reverse());
    for (const path of files) {
      let size: number;
      try {
        const entry = await lstat(path);
        size = entry.size;
      } catch {
        skipped.unreadable += 1;
        continue;
      }
      const blob = await readSmallFile(path, size, limits, skipped);
      if (blob) yield blob;
    }
  }
}

async function readSmallFile(
  path: string,
  size: number,
  limits: ScanLimits,
  skipped: Skipped,
): Promise<Blob | null> {
  if (size > limits.maxBytes) {
    skipped.tooLarge += 1;
    return null;
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    skipped.unreadable += 1;
    return null;
  }
  if (isBinary(bytes)) {
    skipped.binary += 1;
    return null;
  }
  return { path: displayPath(path), bytes };
}

/** A failure of the git binary, with what it said. */
export class GitError extends Error {
  override name = "GitError";
}

/** Runs git with `args` (no shell) and answers its whole stdout. */
function git(repo: string, args: string[], input?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", ["-C", repo, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
    child.on("error", (error) => reject(new GitError(`cannot run git: ${error.message}`)));
    child.on("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new GitError(err.trim().split("\n")[0] || `git exited ${code}`));
    });
    // git may exit before reading its input (not a repository): its exit code tells why.
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });
}

interface BlobSite {
  commit: string;
  path: string;
}

/**
 * Every file blob reachable from any ref, each once, with the first commit (oldest first)
 * that put it at a path. A commit's diff against each parent (`-m`, and `--root` for the
 * first) lists every blob it introduces, so together they cover every tree in the history.
 */
async function blobSites(repo: string): Promise<Map<string, BlobSite>> {
  const log = await git(repo, [
    "log",
    "--all",
    "--reverse",
    "-m",
    "--root",
    "--raw",
    "--no-abbrev",
    "--no-renames",
    // Whatever the user's git config says: no colour codes or signatures in what we parse.
    "--no-color",
    "--no-show-signature",
    "-z",
    "--format=%x01%H",
  ]);
  const sites = new Map<string, BlobSite>();
  const tokens = log.toString("utf8").split("\0");
  let commit = "";
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!.replace(/^\n/, "");
    if (token.startsWith("\u0001")) commit = token.slice(1);
    else if (token.startsWith(":")) {
      // `:<old mode> <new mode> <old sha> <new sha> <status>`, then the path.
      const [, newMode, , sha, status] = token.slice(1).split(" ");
      const path = tokens[++i] ?? "";
      const isFile = newMode === "100644" || newMode === "100755";
      if (!isFile || status === "D" || !sha || sites.has(sha)) continue;
      sites.set(sha, { commit, path });
    }
  }
  return sites;
}

/**
 * The content of every blob in `repo`'s history under the size cap, read through
 * `git cat-file --batch` after `--batch-check` has told the sizes.
 */
export async function* gitBlobs(
  repo: string,
  limits: ScanLimits,
  skipped: Skipped,
): AsyncGenerator<Blob> {
  const sites = await blobSites(repo);
  if (sites.size === 0) return;
  const checked = await git(repo, ["cat-file", "--batch-check"], [...sites.keys()].join("\n"));
  const wanted: { sha: string; size: number }[] = [];
  for (const line of checked.toString("utf8").split("\n")) {
    const [sha, type, size] = line.split(" ");
    if (!sha || type !== "blob") continue;
    if (Number(size) > limits.maxBytes) skipped.tooLarge += 1;
    else wanted.push({ sha, size: Number(size) });
  }
  // Read in rounds of at most READ_ROUND_BYTES of content, so memory stays bounded however
  // large the history is.
  for (const round of rounds(wanted)) {
    const batch = await git(repo, ["cat-file", "--batch"], round.join("\n"));
    for (const { sha, bytes } of parseBatch(batch)) {
      const site = sites.get(sha);
      if (!site) continue;
      if (isBinary(bytes)) {
        skipped.binary += 1;
        continue;
      }
      yield { path: site.path, commit: site.commit, bytes };
    }
  }
}

const READ_ROUND_BYTES = 64 * 1024 * 1024;

function rounds(wanted: readonly { sha: string; size: number }[]): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const blob of wanted) {
    if (current.length > 0 && size + blob.size > READ_ROUND_BYTES) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(blob.sha);
    size += blob.size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** `git cat-file --batch` output: `<sha> blob <size>\n<content>\n` per object asked for. */
function* parseBatch(batch: Buffer): Generator<{ sha: string; bytes: Buffer }> {
  let at = 0;
  while (at < batch.length) {
    const eol = batch.indexOf(0x0a, at);
    if (eol < 0) return;
    const [sha, , size] = batch.subarray(at, eol).toString("utf8").split(" ");
    const length = Number(size);
    if (!sha || !Number.isSafeInteger(length)) {
      at = eol + 1; // `<sha> missing`: no content follows
      continue;
    }
    yield { sha, bytes: batch.subarray(eol + 1, eol + 1 + length) };
    at = eol + 1 + length + 1;
  }
}
