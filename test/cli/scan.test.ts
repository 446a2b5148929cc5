/**
 * `latchkey scan` (SPEC §11): finds keys whose checksum holds in files, stdin and git
 * history, offline; prints where and the 12-character prefix, never the key; exit 1 when it
 * found any, 0 when none, 2 on bad arguments. Runs in-process and as the real binary.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { formatKey } from "../../src/core/key-format.js";
import { Machine, type CliResult } from "./support.js";

const key = (brand = "lk", env: "live" | "test" = "live") => formatKey(brand, env, randomBytes(32));

/** The right shape, a wrong checksum: what a scanner must not report. */
function nearMiss(): string {
  const real = key();
  return real.slice(0, -1) + (real.endsWith("0") ? "1" : "0");
}

/** Every key appears in no output: neither on stdout nor on stderr. */
function expectNoSecret(result: CliResult, secrets: string[]): void {
  const all = result.stdout + result.stderr;
  for (const secret of secrets) {
    expect(all).not.toContain(secret);
    // Nor anything of it past the 12-character prefix.
    expect(all).not.toContain(secret.slice(12, 30));
  }
}

function git(dir: string, ...args: string[]): string {
  return execFileSync(
    "git",
    ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-C", dir, ...args],
    { encoding: "utf8" },
  );
}

describe("latchkey scan", { timeout: 60_000 }, () => {
  const m = new Machine("http://127.0.0.1:9");
  let dir: string;
  const dirs: string[] = [];
  afterAll(() => {
    m.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-scan-"));
    dirs.push(dir);
  });

  it("finds a key pasted into a file, with file, line, column and prefix, and exits 1", async () => {
    const real = key();
    mkdirSync(join(dir, "config"));
    writeFileSync(join(dir, "config", "deploy.env"), `# deploy\nAPI_KEY=${real}\n`);
    writeFileSync(join(dir, "notes.md"), `not a key: ${nearMiss()}\n`);
    const result = await m.run(["scan", dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(`${dir}/config/deploy.env:2:9  ${real.slice(0, 12)}…  live key\n`);
    expect(result.stderr).toContain("Scanned 2 files.");
    expect(result.stderr).toContain("found 1 API key with a valid checksum");
    expectNoSecret(result, [real]);
  });

  it("exits 0 when only near-misses with a wrong checksum are there", async () => {
    const miss = nearMiss();
    writeFileSync(join(dir, "a.txt"), `${miss}\n${key().slice(0, -1)}\n`);
    const result = await m.run(["scan", dir]);
    expect(result).toMatchObject({ code: 0, stdout: "" });
    expect(result.stderr).toBe("Scanned 1 file.\n");
  });

  it("answers JSON with each finding's place, prefix and a fingerprint, never the key", async () => {
    const [live, test] = [key(), key("lk", "test")];
    writeFileSync(join(dir, "a.json"), JSON.stringify({ live, test, again: live }));
    const result = await m.run(["scan", join(dir, "a.json"), "-o", "json"]);
    expect(result.code).toBe(1);
    const body = JSON.parse(result.stdout);
    expect(body.scanned).toBe(1);
    expect(body.findings).toHaveLength(3);
    expect(body.findings[0]).toEqual({
      path: join(dir, "a.json"),
      line: 1,
      column: 10,
      prefix: live.slice(0, 12),
      environment: "live",
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(body.findings[1]).toMatchObject({ prefix: test.slice(0, 12), environment: "test" });
    // The same key, the same fingerprint; another key, another.
    expect(body.findings[2].fingerprint).toBe(body.findings[0].fingerprint);
    expect(body.findings[1].fingerprint).not.toBe(body.findings[0].fingerprint);
    expectNoSecret(result, [live, test]);
  });

  it("answers SARIF 2.1.0 that code scanning accepts: a rule, regions, hashed fingerprints", async () => {
    const real = key();
    writeFileSync(join(dir, "app.ts"), `const k = "${real}";\n`);
    const result = await m.run(["scan", dir, "-o", "sarif"]);
    expect(result.code).toBe(1);
    const sarif = JSON.parse(result.stdout);
    expect(sarif.version).toBe("2.1.0");
    expect(sarif.$schema).toMatch(/sarif-2\.1\.0/);
    const [run] = sarif.runs;
    expect(run.tool.driver.name).toBe("latchkey scan");
    expect(run.tool.driver.rules).toEqual([
      expect.objectContaining({
        id: "latchkey/api-key",
        shortDescription: { text: expect.any(String) },
        properties: expect.objectContaining({ "security-severity": expect.any(String) }),
      }),
    ]);
    expect(run.results).toHaveLength(1);
    const [finding] = run.results;
    expect(finding).toMatchObject({ ruleId: "latchkey/api-key", ruleIndex: 0, level: "error" });
    expect(finding.message.text).toContain(real.slice(0, 12));
    expect(finding.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: pathToFileURL(join(dir, "app.ts")).href },
      region: { startLine: 1, startColumn: 12, endLine: 1, endColumn: 12 + real.length },
    });
    expect(finding.partialFingerprints["latchkeyKey/v1"]).toMatch(/^[0-9a-f]{64}$/);
    expectNoSecret(result, [real]);
  });

  it("walks directories but skips .git, node_modules, binary and large files and symlinks", async () => {
    const outside = mkdtempSync(join(tmpdir(), "latchkey-outside-"));
    dirs.push(outside);
    const secrets = Array.from({ length: 6 }, () => key());
    writeFileSync(join(outside, "elsewhere.env"), secrets[0]!);
    symlinkSync(outside, join(dir, "linked-dir"));
    symlinkSync(join(outside, "elsewhere.env"), join(dir, "linked.env"));
    mkdirSync(join(dir, "node_modules", "pkg"), { recursive: true });
    writeFileSync(join(dir, "node_modules", "pkg", "index.js"), secrets[1]!);
    mkdirSync(join(dir, ".git"));
    writeFileSync(join(dir, ".git", "config"), secrets[2]!);
    writeFileSync(
      join(dir, "image.png"),
      Buffer.concat([Buffer.from([0x89, 0, 1]), Buffer.from(secrets[3]!)]),
    );
    writeFileSync(join(dir, "big.log"), "x".repeat(2048) + secrets[4]!);
    mkdirSync(join(dir, "deep", "er"), { recursive: true });
    writeFileSync(join(dir, "deep", "er", "found.txt"), secrets[5]!);
    const result = await m.run(["scan", dir, "--max-size", "1k", "-o", "json"]);
    expect(result.code).toBe(1);
    const body = JSON.parse(result.stdout);
    expect(body.findings.map((f: any) => f.path)).toEqual([`${dir}/deep/er/found.txt`]);
    expect(body.skipped).toEqual({
      too_large: 1,
      binary: 1,
      symlinks: 2,
      excluded: 2,
      unreadable: 0,
    });
    expectNoSecret(result, secrets);
    // --no-default-excludes walks node_modules and .git too.
    const all = JSON.parse(
      (await m.run(["scan", dir, "--max-size", "1k", "--no-default-excludes", "-o", "json"]))
        .stdout,
    );
    expect(all.findings).toHaveLength(3);
  });

  it("reads stdin with -", async () => {
    const real = key();
    const found = await m.run(["scan", "-"], { input: `line one\n  ${real}\n` });
    expect(found.code).toBe(1);
    expect(found.stdout).toBe(`-:2:3  ${real.slice(0, 12)}…  live key\n`);
    expectNoSecret(found, [real]);
    expect((await m.run(["scan", "-"], { input: "nothing here\n" })).code).toBe(0);
  });

  it("finds this install's brand (LATCHKEY_KEY_PREFIX) and each --prefix, not others", async () => {
    const [bdk, acme, other] = [key("bdk"), key("acme"), key("zzz")];
    writeFileSync(join(dir, "keys.txt"), `${bdk}\n${acme}\n${other}\n`);
    const result = await m.run(["scan", dir, "--prefix", "acme", "-o", "json"], {
      env: { LATCHKEY_KEY_PREFIX: "bdk" },
    });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).findings.map((f: any) => f.prefix)).toEqual([
      bdk.slice(0, 12),
      acme.slice(0, 12),
    ]);
    expect((await m.run(["scan", dir])).code).toBe(0);
  });

  it("finds a key that was committed and then deleted, with its commit, in --git mode", async () => {
    const real = key();
    git(dir, "init", "-q");
    writeFileSync(join(dir, "README.md"), "hello\n");
    writeFileSync(join(dir, "ci.env"), `TOKEN=${real}\n`);
    git(dir, "add", ".");
    git(dir, "commit", "-qm", "add ci");
    const commit = git(dir, "rev-parse", "HEAD").trim();
    git(dir, "rm", "-q", "ci.env");
    git(dir, "commit", "-qm", "remove the key");
    writeFileSync(join(dir, "README.md"), `hello\n${nearMiss()}\n`);
    git(dir, "commit", "-qam", "near miss");

    // The working tree is clean (its .git is skipped: the history is only read with --git)...
    expect((await m.run(["scan", dir])).code).toBe(0);
    // ...the history is not.
    const result = await m.run(["scan", "--git", dir, "-o", "json"]);
    expect(result.code).toBe(1);
    const body = JSON.parse(result.stdout);
    expect(body.findings).toEqual([
      expect.objectContaining({
        path: "ci.env",
        line: 1,
        column: 7,
        commit,
        prefix: real.slice(0, 12),
      }),
    ]);
    expect(body.scanned).toBe(3); // README twice (two contents), ci.env once
    expectNoSecret(result, [real]);
    const text = await m.run(["scan", "--git", dir]);
    expect(text.stdout).toBe(
      `${commit.slice(0, 12)} ci.env:1:7  ${real.slice(0, 12)}…  live key\n`,
    );
  });

  it("scans every ref's history once per blob in --git mode", async () => {
    const [onBranch, twice] = [key(), key()];
    git(dir, "init", "-q", "-b", "main");
    writeFileSync(join(dir, "same.txt"), twice);
    git(dir, "add", ".");
    git(dir, "commit", "-qm", "one");
    git(dir, "checkout", "-q", "-b", "feature");
    writeFileSync(join(dir, "copy.txt"), twice); // the same blob at another path
    writeFileSync(join(dir, "feature.env"), onBranch);
    git(dir, "add", ".");
    git(dir, "commit", "-qm", "feature");
    git(dir, "checkout", "-q", "main");
    const body = JSON.parse((await m.run(["scan", "--git", dir, "-o", "json"])).stdout);
    expect(body.findings.map((f: any) => f.path).sort()).toEqual(["feature.env", "same.txt"]);
  });

  it("ignores findings an earlier JSON output lists (--baseline), and reports new ones", async () => {
    const [known, fresh] = [key(), key()];
    writeFileSync(join(dir, "fixture.txt"), known);
    const first = await m.run(["scan", dir, "-o", "json"]);
    const baseline = join(dir, "..", `${dir.split("/").pop()}-baseline.json`);
    writeFileSync(baseline, first.stdout);
    dirs.push(baseline);
    const again = await m.run(["scan", dir, "--baseline", baseline, "-o", "json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ findings: [], baselined: 1 });
    expect(again.stderr).toContain("1 known finding ignored (baseline)");
    writeFileSync(join(dir, "new.txt"), fresh);
    const later = await m.run(["scan", dir, "--baseline", baseline, "-o", "json"]);
    expect(later.code).toBe(1);
    expect(JSON.parse(later.stdout).findings.map((f: any) => f.prefix)).toEqual([
      fresh.slice(0, 12),
    ]);
    writeFileSync(baseline, "{not json");
    const broken = await m.run(["scan", dir, "--baseline", baseline]);
    expect(broken).toMatchObject({ code: 2, stderr: expect.stringContaining("not JSON") });
    writeFileSync(baseline, JSON.stringify({ findings: [{ prefix: "lk_live_abcd" }] }));
    expect((await m.run(["scan", dir, "--baseline", baseline])).code).toBe(2);
  });

  it("exits 2 on bad arguments, with a clear message", async () => {
    const cases: [string[], RegExp][] = [
      [["scan", join(dir, "missing")], /no such file or directory/],
      [["scan", dir, "--prefix", "Not-A-Brand"], /--prefix: not a key brand/],
      [["scan", dir, "-o", "yaml"], /invalid/i],
      [["scan", dir, "--max-size", "lots"], /--max-size: not a size/],
      [["scan", "--git", dir], /not a git repository/],
      [["scan", "--git", "-"], /stdin/],
      [["scan", dir, "--bogus"], /unknown option/],
      [["scan", dir, "--baseline", join(dir, "none.json")], /--baseline: .* cannot be read/],
    ];
    for (const [args, message] of cases) {
      const result = await m.run(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(message);
    }
  });

  it("answers as the real binary does: same output and exit codes", async () => {
    const real = key();
    writeFileSync(join(dir, "k.txt"), real);
    for (const args of [
      ["scan", dir],
      ["scan", dir, "-o", "sarif"],
      ["scan", join(dir, "nope")],
    ]) {
      const [inside, outside] = [await m.run(args), await m.spawn(args)];
      expect(outside, args.join(" ")).toEqual(inside);
      expectNoSecret(outside, [real]);
    }
    expect((await m.spawn(["scan", dir])).code).toBe(1);
    rmSync(join(dir, "k.txt"));
    expect((await m.spawn(["scan", dir])).code).toBe(0);
  });
});
