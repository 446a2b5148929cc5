import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { hasRedis, startTestServer, type TestServer } from "../helpers/server.js";
import { STORES } from "../helpers/stores.js";
import { Machine, modeOf } from "./support.js";

const SECRET = /lk_(live|test)_[0-9A-Za-z]{49}/;

// In-process (runCli), one run at a time; `token revoke` without a terminal runs the real binary,
// and a busy 2-core machine needs more than the default 30 s for that.
describe.concurrent("latchkey token and auth set-token", { timeout: 90_000 }, () => {
  let server: TestServer;
  const machines: Machine[] = [];

  beforeAll(async () => {
    // Enterprise: no plan limit on keys, so each case can make what it needs.
    // The CLI does not care about the store, so this suite runs once, against the most
    // production-like server available: PostgreSQL and Redis when the environment has them.
    // Usage is flushed every 50 ms, so a call shows up in `token show` at once.
    server = await startTestServer({
      store: STORES.at(-1),
      redis: hasRedis(),
      env: { LATCHKEY_DEFAULT_PLAN: "enterprise", LATCHKEY_USAGE_FLUSH_MS: "50" },
    });
  });
  afterAll(async () => {
    for (const m of machines) m.cleanup();
    await server?.close();
  });

  /** A user with a stored session (made over HTTP: logging in has its own tests). */
  const user = async () => {
    const api = client(server.url);
    const email = uniqueEmail("tok");
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    expect(login.status).toBe(200);
    const m = new Machine(server.url);
    machines.push(m);
    m.adopt(login.body);
    const token = login.body.access_token as string;
    const createKey = async (scopes: string[], name = "fixture") => {
      const reply = await api.post("/v1/api-keys", { name, scopes }, { token });
      expect(reply.status).toBe(201);
      return reply.body as { id: string; key: string };
    };
    return { m, email, token, api, createKey };
  };

  it("disables and enables a key, which shows as disabled and is refused meanwhile", async () => {
    const { m, createKey } = await user();
    const { id, key } = await createKey(["services:read"]);
    const off = await m.run(["token", "disable", id]);
    expect(off.code).toBe(0);
    expect(off.stdout).toContain(`Disabled ${id}`);
    const listed = await m.run(["token", "list"]);
    expect(listed.stdout).toMatch(new RegExp(`${id}.*disabled`));
    const who = await client(server.url).get("/v1/auth/whoami", { token: key });
    expect(who.body.error.code).toBe("key_disabled");
    const on = await m.json(["token", "enable", id]);
    expect(on).toMatchObject({ id, enabled: true });
    expect((await client(server.url).get("/v1/auth/whoami", { token: key })).status).toBe(200);
  });

  it("sets, shows and changes a key's credits, refill and named rate limits", async () => {
    const { m } = await user();
    const made = await m.json([
      "token",
      "create",
      "metered",
      "--scope",
      "services:read",
      "--credits",
      "500",
      "--refill",
      "1000/daily",
      "--ratelimit",
      "api=100/1m",
      "--ratelimit",
      "search=10/10s:2",
    ]);
    expect(made).toMatchObject({
      remaining: 500,
      refill: { amount: 1000, interval: "daily" },
      ratelimits: [
        { name: "api", limit: 100, window: "1m", window_ms: 60_000, cost: 1 },
        { name: "search", limit: 10, window: "10s", window_ms: 10_000, cost: 2 },
      ],
    });
    const shown = await m.run(["token", "show", made.id]);
    expect(shown.stdout).toMatch(/Credits\s+500 left, refilled to 1,000 daily/);
    expect(shown.stdout).toContain("api: 100 per 1m");
    expect(shown.stdout).toContain("search: 10 per 10s (cost 2)");
    const edited = await m.json(["token", "edit", made.id, "--credits", "7", "--clear-ratelimits"]);
    expect(edited).toMatchObject({ remaining: 7, ratelimits: [] });
    const bad = await m.run(["token", "edit", made.id, "--ratelimit", "api=100"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("NAME=LIMIT/WINDOW");
    const badRefill = await m.run(["token", "edit", made.id, "--refill", "5/hourly"]);
    expect(badRefill.code).toBe(2);
  });

  it("ends a key sooner and replaces its address allowlist", async () => {
    const { m, createKey } = await user();
    const { id } = await createKey(["services:read"]);
    const edited = await m.json([
      "token",
      "edit",
      id,
      "--expires",
      "2d",
      "--ip-allow",
      "203.0.113.0/24,198.51.100.7",
    ]);
    expect(edited.ip_allow).toEqual(["203.0.113.0/24", "198.51.100.7/32"]);
    expect(Date.parse(edited.expires_at)).toBeLessThanOrEqual(Date.now() + 2 * 86_400_000 + 5_000);
    const later = await m.run(["token", "edit", id, "--expires", "30d"]);
    expect(later.code).toBe(2);
    expect(later.stderr).toContain("expiry can only be shortened");
    const open = await m.json(["token", "edit", id, "--clear-ip-allow"]);
    expect(open.ip_allow).toBeNull();
  });

  it("sets, shows, changes and clears a key's description and metadata", async () => {
    const { m } = await user();
    const made = await m.json([
      "token",
      "create",
      "billing",
      "--scope",
      "services:read",
      "--description",
      "billing worker",
      "--meta",
      '{"customer":"cus_7","seats":2}',
    ]);
    expect(made).toMatchObject({
      description: "billing worker",
      meta: { customer: "cus_7", seats: 2 },
    });
    const shown = await m.run(["token", "show", made.id]);
    expect(shown.stdout).toMatch(/Description\s+billing worker/);
    expect(shown.stdout).toContain('{"customer":"cus_7","seats":2}');
    const edited = await m.json(["token", "edit", made.id, "--meta", '{"seats":4}']);
    expect(edited.meta).toEqual({ seats: 4 });
    const cleared = await m.json(["token", "edit", made.id, "--clear-meta", "--description", ""]);
    expect(cleared).toMatchObject({ meta: null, description: null });
    for (const bad of ["not json", "[1,2]", '"text"']) {
      const refused = await m.run(["token", "edit", made.id, "--meta", bad]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("--meta must be a JSON object");
    }
  });

  it("creates a key, printing the secret once with a warning, then lists it without the secret", async () => {
    const { m } = await user();
    const created = await m.run([
      "token",
      "create",
      "ci-deploy",
      "--scope",
      "services:read",
      "--scope",
      "services:write",
      "--expires",
      "90d",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const secret = created.stdout.match(SECRET)?.[0];
    expect(secret).toMatch(/^lk_live_/);
    expect(created.stdout).toContain("shown only once");
    expect(created.stdout).toContain("expires in 3 months");
    const id = created.stdout.match(/key_[A-Za-z0-9_-]+/)![0];

    const list = await m.run(["token", "list"]);
    expect(list.code, list.stderr).toBe(0);
    const [header, row] = list.stdout.trimEnd().split("\n");
    expect(header!.split(/\s{2,}/)).toEqual([
      "ID",
      "NAME",
      "PREFIX",
      "ENV",
      "SCOPES",
      "LAST USED",
      "USAGE",
      "EXPIRES",
      "STATUS",
    ]);
    expect(row).toMatch(
      new RegExp(
        `^${id} +ci-deploy +${secret!.slice(0, 12)}… +live +services:read,services:write +never +0 +in 3 months +active$`,
      ),
    );
    expect(list.stdout).not.toContain(secret);
  });

  it("answers every token command with JSON alone under -o json", async () => {
    const { m, api, token } = await user();
    const project = await api.post("/v1/projects", { name: "web" }, { token });
    expect(project.status).toBe(201);
    const created = await m.json([
      "token",
      "create",
      "deploy",
      "--scope",
      "services:read,services:write",
      "--env",
      "test",
      "--project",
      project.body.id,
    ]);
    expect(created).toMatchObject({
      name: "deploy",
      environment: "test",
      scopes: ["services:read", "services:write"],
      project_id: project.body.id,
      status: "active",
    });
    expect(created.key).toMatch(/^lk_test_/);

    const list = await m.json(["token", "list"]);
    expect(list.api_keys.map((k: any) => k.id)).toEqual([created.id]);
    expect(JSON.stringify(list)).not.toContain(created.key);

    const shown = await m.json(["token", "show", created.id]);
    expect(shown).toMatchObject({ id: created.id, usage: { by_endpoint: [] } });

    const edited = await m.json([
      "token",
      "edit",
      created.id,
      "--name",
      "deploy-2",
      "--scope",
      "services:read",
    ]);
    expect(edited).toMatchObject({ name: "deploy-2", scopes: ["services:read"] });

    const rotated = await m.json(["token", "rotate", created.id, "--expire-old-in", "24h"]);
    expect(rotated).toMatchObject({
      name: "deploy-2",
      environment: "test",
      rotated_from: created.id,
    });
    expect(rotated.key).toMatch(/^lk_test_/);
    const old = await api.get(`/v1/api-keys/${created.id}`, { token });
    expect(old.body.status).toBe("active");
    const hoursLeft = (Date.parse(old.body.expires_at) - Date.now()) / 3_600_000;
    expect(hoursLeft).toBeGreaterThan(23);
    expect(hoursLeft).toBeLessThanOrEqual(24);

    const revoked = await m.json(["token", "revoke", rotated.id, "--yes"]);
    expect(revoked).toMatchObject({ id: rotated.id, status: "revoked" });
    const check = await api.get("/v1/auth/whoami", { token: rotated.key });
    expect(check.status).toBe(401);
    expect(check.body.error.code).toBe("key_revoked");
  });

  it("shows a key's details with usage by endpoint", async () => {
    const { m, createKey, api, token } = await user();
    const key = await createKey(["keys:read"], "reader");
    const whoami = await api.get("/v1/auth/whoami", { token: key.key });
    expect(whoami.status).toBe(200);
    await expect
      .poll(async () => (await api.get(`/v1/api-keys/${key.id}`, { token })).body.usage_count, {
        timeout: 5_000,
        interval: 50,
      })
      .toBe(1);
    const shown = await m.run(["token", "show", key.id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/Name\s+reader/);
    expect(shown.stdout).toMatch(/Scopes\s+keys:read/);
    expect(shown.stdout).toContain("Usage by endpoint");
    expect(shown.stdout).toMatch(/GET \/v1\/auth\/whoami +1/);
  });

  it("will not revoke without --yes when there is no terminal to confirm on (exit 2)", async () => {
    const { m, createKey } = await user();
    const key = await createKey(["keys:read"]);
    // The real binary, its stdin a pipe: no terminal to ask on.
    const result = await m.spawn(["token", "revoke", key.id]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--yes");
    const still = await client(server.url).get("/v1/auth/whoami", { token: key.key });
    expect(still.status).toBe(200);
  });

  it("exits 1 with `scope insufficient` and the scopes required, and 3 for a revoked key", async () => {
    const { m, createKey, api, token } = await user();
    const reader = await createKey(["keys:read"]);
    const env = { LATCHKEY_TOKEN: reader.key };
    const denied = await m.run(["token", "create", "x", "--scope", "keys:read"], { env });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("scope insufficient");
    expect(denied.stderr).toContain("keys:write");
    expect(denied.stdout).toBe("");
    // A key can list with keys:read.
    expect((await m.run(["token", "list", "-o", "json"], { env })).code).toBe(0);

    expect((await api.delete(`/v1/api-keys/${reader.id}`, { token })).status).toBe(200);
    const revoked = await m.run(["whoami"], { env });
    expect(revoked.code).toBe(3);
    expect(revoked.stderr).toContain("key_revoked");
  });

  it("exits 1 for refusals: widening scopes, an unknown key; 2 for an edit with nothing to change", async () => {
    const { m, createKey } = await user();
    const key = await createKey(["keys:read"]);
    const widen = await m.run(["token", "edit", key.id, "--scope", "keys:write"]);
    expect(widen.code).toBe(1);
    expect(widen.stderr).toContain("scope_expansion_not_allowed");
    const missing = await m.run(["token", "show", "key_doesnotexist"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("not_found");
    const nothing = await m.run(["token", "edit", key.id]);
    expect(nothing.code).toBe(2);
  });

  it("auth set-token checks the key with the server first: a bad key exits 3 and stores nothing", async () => {
    const { createKey, token } = await user();
    const key = await createKey(["keys:read", "services:read"], "laptop");
    const m = new Machine(server.url);
    machines.push(m);

    const bad = await m.run(["auth", "set-token", `${key.key.slice(0, -6)}000000`]);
    expect(bad.code).toBe(3);
    expect(m.hasCredentials()).toBe(false);
    const session = await m.run(["auth", "set-token", token]);
    expect(session.code).toBe(2);
    expect(m.hasCredentials()).toBe(false);

    // From stdin, so the key stays out of shell history and `ps`.
    const stored = await m.json(["auth", "set-token", "-"], { input: `${key.key}\n` });
    expect(stored).toMatchObject({ stored: true, key_id: key.id, environment: "live" });
    expect(JSON.stringify(stored)).not.toContain(key.key);
    expect(modeOf(m.credentialsFile)).toBe(0o600);
    expect(modeOf(m.credentialsDir)).toBe(0o700);
    expect(m.credentials()).toEqual({ api_url: server.url, type: "api_key", key: key.key });

    const who = await m.json(["whoami"]);
    expect(who).toMatchObject({
      credential_type: "api_key",
      credential_source: "file",
      key_id: key.id,
      environment: "live",
      scopes: ["keys:read", "services:read"],
    });
    const out = await m.json(["logout"]);
    expect(out).toMatchObject({ logged_out: true, session_ended: false });
    expect(m.hasCredentials()).toBe(false);
  });

  it("LATCHKEY_TOKEN set to a key works without leaving a file behind", async () => {
    const { createKey } = await user();
    const key = await createKey(["keys:read"]);
    const m = new Machine(server.url, { LATCHKEY_TOKEN: key.key });
    machines.push(m);
    const list = await m.json(["token", "list"]);
    expect(list.api_keys.some((k: any) => k.id === key.id)).toBe(true);
    expect(m.hasCredentials()).toBe(false);
  });
});
