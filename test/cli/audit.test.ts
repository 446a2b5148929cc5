import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { Machine } from "./support.js";

describe("latchkey audit", () => {
  let server: TestServer;
  const machines: Machine[] = [];

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
  });

  const signedIn = async () => {
    const api = client(server.url);
    const email = uniqueEmail("audit");
    await api.post("/v1/auth/signup", { email, password: PASSWORD });
    for (let i = 0; i < 2; i++) await api.post("/v1/auth/login", { email, password: "wrong-one" });
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    return { m, api, token: login.body.access_token as string };
  };

  it("lists events as a table and pages with --before", async () => {
    const { m } = await signedIn();
    const first = await m.run(["audit", "list", "--limit", "2"]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/ID\s+AT\s+EVENT\s+ACTOR\s+IP/);
    const more = /More: --before (\d+)/.exec(first.stdout);
    expect(more).not.toBeNull();
    const next = await m.json(["audit", "list", "--limit", "2", "--before", more![1]!]);
    expect(next.events.every((e: { id: number }) => e.id < Number(more![1]))).toBe(true);
    const failed = await m.json(["audit", "list", "--event", "login_failed", "--mine"]);
    expect(failed.events).toHaveLength(2);
  });

  it("exports every event as NDJSON through the real binary, as the API lists them", async () => {
    const { m, api, token } = await signedIn();
    const exported = await m.spawn(["audit", "export"]);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trimEnd().split("\n");
    const listed = await api.get("/v1/audit-log?limit=500", { token });
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual(listed.body.events);
    expect(lines.length).toBeGreaterThanOrEqual(4); // signup, two failures, login
  });

  it("refuses a bad page size with the usage exit code", async () => {
    const { m } = await signedIn();
    const bad = await m.run(["audit", "list", "--limit", "many"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--limit must be a positive whole number");
  });
});
