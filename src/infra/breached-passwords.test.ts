import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  RangeApi,
  RangeDirectory,
  SortedHashFile,
  breachedPasswordsFrom,
} from "./breached-passwords.js";

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex").toUpperCase();

/** Breached in the fixture lists, with their counts. */
const BREACHED = { "hunter2-hunter2": 17, "zzzz-sorts-late": 3, "another-leaked-one": 1 };
const CLEAN = ["never-leaked-passphrase", "correct horse battery staple 2026"];

describe("breached-password lists", () => {
  let dir: string;
  let lines: string[];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "breached-"));
    // 5 000 random hashes around the fixture's own, so the search crosses many lines.
    const rows = new Map<string, number>();
    for (let i = 0; i < 5000; i++) rows.set(randomBytes(20).toString("hex").toUpperCase(), i + 1);
    for (const [password, count] of Object.entries(BREACHED)) rows.set(sha1(password), count);
    lines = [...rows].sort(([a], [b]) => (a < b ? -1 : 1)).map(([h, c]) => `${h}:${c}`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function expectAnswers(list: { count(p: string): Promise<number> }) {
    for (const [password, count] of Object.entries(BREACHED))
      expect(await list.count(password)).toBe(count);
    for (const password of CLEAN) expect(await list.count(password)).toBe(0);
  }

  it("searches a file sorted by hash (LF and CRLF), including its first and last lines", async () => {
    for (const [name, eol] of [
      ["lf.txt", "\n"],
      ["crlf.txt", "\r\n"],
    ] as const) {
      const path = join(dir, name);
      writeFileSync(path, lines.join(eol) + eol);
      const list = new SortedHashFile(path);
      await expectAnswers(list);
      await list.close();
    }
  });

  it("finds a breached password on the first, a middle and the last line, and in a one-line file", async () => {
    const path = join(dir, "edges.txt");
    const own = Object.entries(BREACHED)
      .map(([password, count]) => `${sha1(password)}:${count}`)
      .sort();
    writeFileSync(path, own.join("\n")); // no final newline either
    const list = new SortedHashFile(path);
    await expectAnswers(list);
    await list.close();
    const single = join(dir, "single.txt");
    writeFileSync(single, `${sha1("hunter2-hunter2")}:17\n`);
    const one = new SortedHashFile(single);
    expect(await one.count("hunter2-hunter2")).toBe(17);
    expect(await one.count("never-leaked-passphrase")).toBe(0);
    await one.close();
  });

  it("reads one range file per lookup from a directory", async () => {
    const ranges = join(dir, "ranges");
    mkdirSync(ranges);
    const byPrefix = new Map<string, string[]>();
    for (const line of lines) {
      const prefix = line.slice(0, 5);
      byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), line.slice(5)]);
    }
    for (const [prefix, rows] of byPrefix)
      writeFileSync(join(ranges, `${prefix}.txt`), rows.join("\r\n"));
    await expectAnswers(new RangeDirectory(ranges));
    await expectAnswers(await breachedPasswordsFrom(ranges));
  });

  describe("a range API", () => {
    let server: Server;
    let base: string;
    const asked: string[] = [];
    beforeAll(async () => {
      server = createServer((request, response) => {
        asked.push(request.url ?? "");
        const prefix = (request.url ?? "").split("/").pop()!.toUpperCase();
        const rows = lines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(5));
        // Padding rows, as the real API adds them: count 0.
        rows.push(`${"A".repeat(35)}:0`);
        response.end(rows.join("\r\n"));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const address = server.address() as { port: number };
      base = `http://127.0.0.1:${address.port}/range/`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it("answers from the range and sends only the hash's first five characters", async () => {
      await expectAnswers(new RangeApi(base));
      expect(asked.length).toBe(Object.keys(BREACHED).length + CLEAN.length);
      for (const url of asked) expect(url).toMatch(/^\/range\/[0-9A-F]{5}$/);
      const everything = asked.join(" ");
      for (const password of [...Object.keys(BREACHED), ...CLEAN]) {
        expect(everything).not.toContain(password);
        expect(everything).not.toContain(sha1(password).slice(5, 12));
      }
    });

    it("fails when the API does, so the caller can log it", async () => {
      const down = new RangeApi("http://127.0.0.1:9/range/", 500);
      await expect(down.count("anything")).rejects.toThrow();
    });
  });

  it("refuses a source that does not exist at start", async () => {
    await expect(breachedPasswordsFrom(join(dir, "missing.txt"))).rejects.toThrow(
      /LATCHKEY_BREACHED_PASSWORDS/,
    );
  });
});
