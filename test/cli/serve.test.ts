import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { addKeyFile, fileRing } from "../../src/infra/master-keys.js";
import { BIN } from "./support.js";

describe("latchkey serve", { timeout: 90_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "latchkey-serve-"));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("starts the server as npm start does, answers, and stops cleanly on SIGTERM", async () => {
    const child = spawn(process.execPath, [BIN, "serve"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        PORT: "0",
        HOST: "127.0.0.1",
        LATCHKEY_DATA_DIR: dataDir,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    let output = "";
    const url = await new Promise<string>((done, fail) => {
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8");
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (match) done(match[1]!);
      });
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
      void exited.then((code) => fail(new Error(`serve exited ${code}: ${output}`)));
    });
    const jwks = await fetch(`${url}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect((await jwks.json()).keys.length).toBeGreaterThan(0);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("reads the master-key files again on SIGHUP, and keeps serving", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-serve-hup-"));
    const child = spawn(process.execPath, [BIN, "serve"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        PORT: "0",
        HOST: "127.0.0.1",
        LATCHKEY_DATA_DIR: dir,
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    let output = "";
    const seen = (pattern: RegExp) =>
      new Promise<RegExpExecArray>((done, fail) => {
        const check = () => {
          const match = pattern.exec(output);
          if (match) done(match);
        };
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString("utf8");
          check();
        });
        check();
        void exited.then((code) => fail(new Error(`serve exited ${code}: ${output}`)));
      });
    try {
      const url = (await seen(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      const added = addKeyFile(fileRing(dir));
      child.kill("SIGHUP");
      await seen(
        new RegExp(`"master_keys":\\["${added.id}","[0-9a-f]{8}"\\].*master-key ring reloaded`),
      );
      expect((await fetch(`${url}/.well-known/jwks.json`)).status).toBe(200);
      expect(output).not.toContain(readFileSync(added.source, "utf8").trim());
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
