import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { STORES } from "../helpers/stores.js";
import { Machine } from "./support.js";

const JWT = /[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;

// The real binary for the process boundary (stdin, env, exit codes); in-process for the rest.
describe("latchkey token exchange", { timeout: 90_000 }, () => {
  let server: TestServer;
  const machines: Machine[] = [];

  beforeAll(async () => {
    server = await startTestServer({
      store: STORES.at(-1),
      env: { LATCHKEY_DEFAULT_PLAN: "enterprise" },
    });
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
  });

  const user = async () => {
    const api = client(server.url);
    const email = uniqueEmail("exchange");
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    const token = login.body.access_token as string;
    const key = await api.post(
      "/v1/api-keys",
      { name: "svc", scopes: ["services:read", "logs:read"] },
      { token },
    );
    expect(key.status).toBe(201);
    return { m, token, id: key.body.id as string, key: key.body.key as string };
  };

  it("reads the key from stdin and prints the token once, narrowed, with -o json", async () => {
    const { m, id, key } = await user();
    const run = await m.spawn(
      [
        "token",
        "exchange",
        "--key-stdin",
        "--scope",
        "services:read",
        "--expires",
        "2m",
        "-o",
        "json",
      ],
      { input: `${key}\n` },
    );
    expect(run.code, run.stderr).toBe(0);
    const answer = JSON.parse(run.stdout);
    expect(answer).toMatchObject({ key_id: id, scopes: ["services:read"], expires_in: 120 });
    expect(decodeJwt(answer.access_token)).toMatchObject({ key_id: id, scope: "services:read" });
    expect(run.stdout.split(answer.access_token)).toHaveLength(2);
    expect(run.stdout + run.stderr).not.toContain(key);
    // The token works as its key, narrowed, on Latchkey's own API.
    const who = await client(server.url).get("/v1/auth/whoami", { token: answer.access_token });
    expect(who.body).toMatchObject({ key_id: id, scopes: ["services:read"] });
  });

  it("takes the key from LATCHKEY_API_KEY, and prints the token for people without -o json", async () => {
    const { m, id, key } = await user();
    const run = await m.spawn(["token", "exchange"], { env: { LATCHKEY_API_KEY: key } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Access token for ${id}`);
    const token = run.stdout.match(JWT)![0];
    expect(decodeJwt(token)).toMatchObject({ key_id: id, scope: "logs:read services:read" });
  });

  it("uses LATCHKEY_TOKEN when it is a key, refuses a session, and exits 1 for scopes the key lacks, 3 for a revoked key", async () => {
    const { m, token, id, key } = await user();
    const session = await m.run(["token", "exchange"]);
    expect(session.code).toBe(2);
    expect(session.stderr).toContain("a signed-in session cannot be exchanged");

    const wider = await m.run(["token", "exchange", "--key", key, "--scope", "services:write"]);
    expect(wider.code).toBe(1);
    expect(wider.stderr).toContain("services:write");

    const viaToken = await m.json(["token", "exchange"], { env: { LATCHKEY_TOKEN: key } });
    expect(viaToken.key_id).toBe(id);

    await client(server.url).delete(`/v1/api-keys/${id}`, { token });
    const revoked = await m.spawn(["token", "exchange", "--key-stdin"], { input: key });
    expect(revoked.code).toBe(3);
    expect(revoked.stderr).toMatch(/revoked/);
  });

  it("refuses a bad --expires as a usage error before calling", async () => {
    const { m, key } = await user();
    const run = await m.run(["token", "exchange", "--key", key, "--expires", "soon"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--expires");
  });
});
