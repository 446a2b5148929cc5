import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { Machine } from "./support.js";

// In-process (runCli): no process boundary is under test here.
describe("latchkey users (staff)", () => {
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
    const email = uniqueEmail("users");
    const signup = await api.post("/v1/auth/signup", { email, password: PASSWORD });
    expect(signup.status).toBe(201);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    return { m, id: signup.body.user.id as string, token: login.body.access_token as string };
  };

  // The first account of the server is staff; the cases share it.
  let first: ReturnType<typeof signedIn> | null = null;
  const theStaff = () => (first ??= signedIn());

  it("lists accounts and makes one a service account that may verify keys", async () => {
    const staff = await theStaff();
    const svc = await signedIn();

    const table = await staff.m.run(["users", "list"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/ID\s+EMAIL\s+ROLE\s+PLAN\s+STAFF\s+SERVICE\s+DISABLED/);
    expect(table.stdout).toContain(svc.id);

    const set = await staff.m.json(["users", "set", svc.id, "--service", "--plan", "pro"]);
    expect(set).toMatchObject({ id: svc.id, service: true, plan: "pro", staff: false });
    const made = await svc.m.json(["token", "create", "verifier", "--scope", "keys:verify"]);
    expect(made.scopes).toEqual(["keys:verify"]);

    const off = await staff.m.json(["users", "set", svc.id, "--no-service"]);
    expect(off.service).toBe(false);
    const refused = await svc.m.run(["token", "create", "again", "--scope", "keys:verify"]);
    expect(refused.code).toBe(1);
  });

  it("shows, sets and clears an owner's named rate limits, shared by its keys", async () => {
    const staff = await theStaff();
    const owner = await signedIn();
    const set = await staff.m.run([
      "users",
      "limits",
      owner.id,
      "--ratelimit",
      "api=1000/1m",
      "--ratelimit",
      "daily=50000/1d:5",
    ]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain("api: 1,000 per 1m");
    expect(set.stdout).toContain("daily: 50,000 per 1d (cost 5)");
    const shown = await staff.m.json(["users", "limits", owner.id]);
    expect(shown.ratelimits.map((l: { name: string }) => l.name)).toEqual(["api", "daily"]);
    const cleared = await staff.m.run(["users", "limits", owner.id, "--clear"]);
    expect(cleared.stdout).toContain("has no named rate limits");
    const bad = await staff.m.run(["users", "limits", owner.id, "--ratelimit", "api"]);
    expect(bad.code).toBe(2);
    const refused = await owner.m.run(["users", "limits", owner.id]);
    expect(refused.code).toBe(1);
  });

  it("signs a user out everywhere", async () => {
    const staff = await theStaff();
    const user = await signedIn();
    const result = await staff.m.run(["users", "sign-out", user.id]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("1 session(s) ended");
    const who = await client(server.url).get("/v1/auth/whoami", { token: user.token });
    expect(who.status).toBe(401);
    const missing = await staff.m.run(["users", "sign-out", "usr_nobody"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no such user");
  });

  it("refuses non-staff (exit 1, scope insufficient) and an empty change (exit 2)", async () => {
    const user = await signedIn();
    const listed = await user.m.run(["users", "list"]);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toMatch(/scope insufficient/i);
    const nothing = await user.m.run(["users", "set", user.id]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain("nothing to change");
  });
});
