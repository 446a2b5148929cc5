/**
 * `latchkey scan --report` against a real server: what was found is reported to
 * `POST /v1/keys/leaks` and revoked; with a `keys:report` credential the outcome of each
 * key is printed; without a server it is a usage error, an unreachable one exit 4.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, expectError, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { createKey, type Api } from "../http/api-keys-fixtures.js";
import { Machine } from "./support.js";

describe("latchkey scan --report", { timeout: 60_000 }, () => {
  let server: TestServer;
  let api: Api;
  let staffToken: string;
  let ownerToken: string;
  let m: Machine;
  let dir: string;

  beforeAll(async () => {
    server = await startTestServer();
    api = client(server.url);
    staffToken = (await signupAndLogin(server.url)).accessToken; // the first account: staff
    ownerToken = (await signupAndLogin(server.url)).accessToken;
    m = new Machine(server.url);
    dir = mkdtempSync(join(tmpdir(), "latchkey-report-"));
  });
  afterAll(async () => {
    m?.cleanup();
    rmSync(dir, { recursive: true, force: true });
    await server?.close();
  });

  async function leak(name: string): Promise<{ key: string; file: string }> {
    const { key } = await createKey(api, ownerToken, { name });
    const file = join(dir, `${name}.env`);
    writeFileSync(file, `TOKEN=${key}\n`);
    return { key, file };
  }

  it("reports anonymously: the key is revoked, the answer says only how many arrived", async () => {
    const { key, file } = await leak("anon");
    const result = await m.run(["scan", file, "--report", "--report-url", "https://x.example/1"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Reported 1 key to ${server.url}.`);
    expect(result.stderr).toContain("only to a credential with keys:report");
    expect(result.stdout + result.stderr).not.toContain(key);
    expectError(await api.get("/v1/auth/whoami", { token: key }), 401, "key_revoked");
    const log = await api.get("/v1/audit-log?event=key_leaked", { token: ownerToken });
    expect(log.body.events[0].details).toMatchObject({
      url: "https://x.example/1",
      source: "latchkey scan",
      outcome: "revoked",
    });
  });

  it("prints each key's outcome with a keys:report credential, and in JSON", async () => {
    const { key, file } = await leak("staff");
    const env = { LATCHKEY_TOKEN: staffToken };
    const text = await m.run(["scan", file, "--report"], { env });
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`${file}:1:7  ${key.slice(0, 12)}…  revoked now`);
    const json = await m.run(["scan", file, "--report", "-o", "json"], { env });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).report).toEqual({
      server: server.url,
      received: 1,
      results: [
        { path: file, line: 1, column: 7, prefix: key.slice(0, 12), outcome: "already_revoked" },
      ],
    });
    expect(text.stdout + text.stderr + json.stdout + json.stderr).not.toContain(key);
  });

  it("needs a configured server, and says so when it cannot reach it", async () => {
    const { file } = await leak("nowhere");
    const noServer = await m.run(["scan", file, "--report"], { env: { LATCHKEY_URL: "" } });
    expect(noServer.code).toBe(2);
    expect(noServer.stderr).toContain("--report needs a Latchkey server");
    const closed = await m.run(["scan", file, "--report", "--api-url", "http://127.0.0.1:9"]);
    expect(closed.code).toBe(4);
    // The findings are printed all the same.
    expect(closed.stdout).toContain(`${file}:1:7`);
    const badUrl = await m.run(["scan", file, "--report", "--report-url", "ftp://x"]);
    expect(badUrl.code).toBe(2);
    const alone = await m.run(["scan", file, "--report-url", "https://x.example/"]);
    expect(alone).toMatchObject({ code: 2, stderr: expect.stringContaining("goes with --report") });
  });

  it("refuses a credential the server does not accept with exit 3", async () => {
    const { file } = await leak("badcred");
    const result = await m.run(["scan", file, "--report"], {
      env: { LATCHKEY_TOKEN: "lk_live_notakey" },
    });
    expect(result.code).toBe(3);
  });
});
