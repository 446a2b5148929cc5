/**
 * The process boundary of `latchkey`: the in-process runCli the other CLI tests use answers
 * exactly as the installed binary does, and the binary survives a reader that goes away.
 */
import { spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, Machine } from "./support.js";

describe("latchkey as a process", { timeout: 90_000 }, () => {
  // No server: these commands answer without one, or fail to reach the closed port.
  const m = new Machine("http://127.0.0.1:9");
  afterAll(() => m.cleanup());

  it("answers in-process with the binary's stdout, stderr and exit code", async () => {
    const cases = [
      ["--version"],
      ["--help"],
      ["token", "create", "--help"],
      ["whoamii"],
      ["token", "list", "--colour"],
      ["whoami", "-o", "yaml"],
      ["login"],
      ["whoami"],
      ["whoami", "--api-url", "ftp://example.test"],
    ];
    for (const args of cases) {
      const [inside, outside] = [await m.run(args), await m.spawn(args)];
      expect(inside, args.join(" ")).toEqual(outside);
    }
    expect((await m.run(["whoamii"])).code).toBe(2);
    expect((await m.run(["whoami"])).code).toBe(3);
  });

  it("gives the process back its environment and streams after an in-process run", async () => {
    const before = { env: process.env, stdout: process.stdout, stderr: process.stderr };
    const stdin = process.stdin;
    const runs = await Promise.all([m.run(["whoami"]), m.run(["--version"]), m.run(["nope"])]);
    expect(runs.map((r) => r.code)).toEqual([3, 0, 2]);
    expect(runs[1]!.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(runs[0]!.stdout + runs[2]!.stdout).toBe("");
    expect(process.env).toBe(before.env);
    expect(process.stdout).toBe(before.stdout);
    expect(process.stderr).toBe(before.stderr);
    expect(process.stdin).toBe(stdin);
  });

  it("exits 0 without a word when its reader closes the pipe early (latchkey … | head)", async () => {
    const child = spawn(process.execPath, [BIN, "--help"], {
      env: m.env(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.destroy(); // the reader is gone before the first byte: every write is EPIPE
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const code = await new Promise<number | null>((done) => child.on("close", done));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});
