/**
 * `latchkey passkey list | rename | remove` (SPEC §9) against a real server; the passkey is
 * registered over HTTP with the software authenticator (a terminal has no WebAuthn), and
 * removing it needs a recent sign-in (step-up with --password-stdin).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { SoftAuthenticator } from "../helpers/webauthn.js";
import { Machine, testClock } from "./support.js";

describe.sequential("latchkey passkey", { timeout: 90_000 }, () => {
  let server: TestServer;
  const clock = testClock();
  const machines: Machine[] = [];

  beforeAll(async () => {
    server = await startTestServer({ now: clock.now });
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
  });

  const user = async () => {
    const api = client(server.url);
    const email = uniqueEmail("passkey");
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    const token = login.body.access_token as string;
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    return { m, token, api };
  };

  it("lists, renames and removes a passkey; removal asks for a recent sign-in", async () => {
    const { m, token, api } = await user();
    const empty = await m.run(["passkey", "list"]);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toContain("No passkeys");

    const authenticator = new SoftAuthenticator(server.url.replace("127.0.0.1", "localhost"));
    const options = await api.post("/v1/auth/passkeys/register/options", undefined, { token });
    const registered = await api.post(
      "/v1/auth/passkeys/register",
      { credential: authenticator.register(options.body), name: "YubiKey" },
      { token },
    );
    expect(registered.status).toBe(201);
    const id = registered.body.id as string;

    const table = await m.run(["passkey", "list"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+YubiKey\\s+this device`));
    expect(table.stdout).toContain("never");

    const renamed = await m.json(["passkey", "rename", id, "Desk key"]);
    expect(renamed.name).toBe("Desk key");
    const listed = await m.json(["passkey", "list"]);
    expect(listed.passkeys.map((p: { name: string }) => p.name)).toEqual(["Desk key"]);

    const missing = await m.run(["passkey", "remove", "pk_missing"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("passkey not found");

    clock.advance(10 * 60_000 + 1_000);
    const refused = await m.run(["passkey", "remove", id]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("--password-stdin");
    const removed = await m.run(["passkey", "remove", id, "--password-stdin"], {
      input: `${PASSWORD}\n`,
    });
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain("Removed passkey");
    expect(removed.stdout + removed.stderr).not.toContain(PASSWORD);
    expect((await m.json(["passkey", "list"])).passkeys).toEqual([]);
  });

  it("refuses a bad name with exit 2-style usage, through the server's message", async () => {
    const { m } = await user();
    const bad = await m.run(["passkey", "rename", "pk_x", "x".repeat(65)]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/name/);
  });

  it("runs as the real binary", async () => {
    const { m } = await user();
    const result = await m.spawn(["passkey", "list", "-o", "json"]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ passkeys: [] });
  });
});
