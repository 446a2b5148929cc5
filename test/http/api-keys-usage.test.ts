import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDb } from "../../src/store/db.js";
import { client, PASSWORD, signupAndLogin, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore, freshPostgres } from "../helpers/stores.js";
import {
  account,
  adminPatch,
  createKey,
  serviceKey,
  verify,
  type Account,
  type Api,
} from "./api-keys-fixtures.js";

async function usageRow(server: TestServer, keyId: string) {
  return server.db
    .selectFrom("api_keys")
    .select(["usage_count", "last_used_at"])
    .where("id", "=", keyId)
    .executeTakeFirstOrThrow();
}

describeEachStore("API keys: usage and activity", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;
  let service: string;

  beforeAll(async () => {
    server = await startTestServer({ store });
    api = client(server.url);
    const staff = await account(server);
    user = await account(server);
    await adminPatch(api, staff.token, user.userId, { plan: "enterprise" });
    service = await serviceKey(server, api, staff.token);
  });
  afterAll(async () => server?.close());

  it("counts calls by endpoint, project and hour, with an activity log of outcomes", async () => {
    const project = await api.post("/v1/projects", { name: "web" }, { token: user.token });
    const key = await createKey(api, user.token, { scopes: ["services:read"] });
    for (let i = 0; i < 3; i++) await api.get("/v1/auth/whoami", { token: key.key });
    const body = { key: key.key, endpoint: "POST /deploy", ip: "203.0.113.9" };
    await verify(api, service, { ...body, project_id: project.body.id });
    await verify(api, service, { ...body, project_id: project.body.id });
    await verify(api, service, { ...body, scopes: ["billing:read"] });
    expectError(await api.get("/v1/api-keys", { token: key.key }), 403, "scope_insufficient");
    await server.services.keyVerifier.usage.flush();

    const details = await api.get(`/v1/api-keys/${key.id}`, { token: user.token });
    expect(details.status).toBe(200);
    expect(details.body.usage_count).toBe(7);
    expect(Date.parse(details.body.last_used_at)).toBeGreaterThan(Date.now() - 60_000);
    const { by_endpoint, by_project, by_hour } = details.body.usage;
    expect(by_endpoint).toEqual(
      expect.arrayContaining([
        { endpoint: "GET /v1/auth/whoami", count: 3 },
        { endpoint: "POST /deploy", count: 3 },
        { endpoint: "GET /v1/api-keys", count: 1 },
      ]),
    );
    expect(by_endpoint).toHaveLength(3);
    expect(by_project).toEqual(
      expect.arrayContaining([
        { project_id: project.body.id, count: 2 },
        { project_id: null, count: 5 },
      ]),
    );
    expect(by_hour.reduce((n: number, h: any) => n + h.count, 0)).toBe(7);
    expect(Date.parse(by_hour[by_hour.length - 1].hour) % 3_600_000).toBe(0);

    const activity = await api.get(`/v1/api-keys/${key.id}/activity`, { token: user.token });
    expect(activity.status).toBe(200);
    const rows = activity.body.activity;
    expect(rows).toHaveLength(7);
    expect(rows[0]).toMatchObject({
      endpoint: "GET /v1/api-keys",
      outcome: "scope_insufficient",
      ip: "127.0.0.1",
    });
    expect(rows[1]).toMatchObject({
      endpoint: "POST /deploy",
      outcome: "scope_insufficient",
      ip: "203.0.113.9",
    });
    expect(rows.filter((r: any) => r.outcome === "valid")).toHaveLength(2);
    expect(rows.filter((r: any) => r.outcome === "ok")).toHaveLength(3);
    const page = await api.get(`/v1/api-keys/${key.id}/activity?limit=5`, { token: user.token });
    expect(page.body.activity).toHaveLength(5);
    const rest = await api.get(
      `/v1/api-keys/${key.id}/activity?limit=5&before=${page.body.next_before}`,
      { token: user.token },
    );
    expect(rest.body.activity).toHaveLength(2);
  });

  it("keeps counting off the request path and writes within a second", async () => {
    const key = await createKey(api, user.token);
    for (let i = 0; i < 20; i++) await api.get("/v1/auth/whoami", { token: key.key });
    const lastCall = Date.now();
    let row = await usageRow(server, key.id);
    while (row.usage_count < 20 && Date.now() - lastCall < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      row = await usageRow(server, key.id);
    }
    expect(row.usage_count).toBe(20);
    // Flushed every 500 ms by default: at most about a second behind.
    expect(Date.now() - lastCall).toBeLessThan(1_000);
  });

  it("keeps only the newest 1000 activity rows per key", async () => {
    const key = await createKey(api, user.token);
    const { usage } = server.services.keyVerifier;
    const base = Date.now();
    // In flushes of 100 uses: more in one flush would be sampled (see the sampling test).
    for (let i = 0; i < 1100; i++) {
      usage.record({
        keyId: key.id,
        at: base + i,
        endpoint: "GET /x",
        projectId: null,
        ip: null,
        outcome: "ok",
      });
      if (i % 100 === 99) await usage.flush();
    }
    for (let i = 0; i < 50; i++)
      usage.record({
        keyId: key.id,
        at: base + 2000 + i,
        endpoint: "GET /y",
        projectId: null,
        ip: null,
        outcome: "ok",
      });
    await usage.flush();
    const rows = await server.db
      .selectFrom("key_activity")
      .select(["at"])
      .where("key_id", "=", key.id)
      .execute();
    expect(rows).toHaveLength(1000);
    expect(Math.min(...rows.map((r) => r.at))).toBe(base + 150);
    expect((await usageRow(server, key.id)).usage_count).toBe(1150);
  });

  it("samples a flood's activity: usage stays exact, the rest is shown as `sampled`", async () => {
    const key = await createKey(api, user.token);
    const { usage } = server.services.keyVerifier;
    const base = Date.now();
    for (let i = 0; i < 350; i++)
      usage.record({
        keyId: key.id,
        at: base + i,
        endpoint: i % 2 ? "GET /x" : "GET /y",
        projectId: null,
        ip: null,
        outcome: "ok",
      });
    await usage.flush();
    expect((await usageRow(server, key.id)).usage_count).toBe(350);
    const res = await api.get(`/v1/api-keys/${key.id}/activity?limit=1000`, { token: user.token });
    expect(res.status).toBe(200);
    const body = res.body as { activity: unknown[]; sampled: number };
    expect(body.activity).toHaveLength(100);
    expect(body.sampled).toBe(250);
    const details = await api.get(`/v1/api-keys/${key.id}`, { token: user.token });
    const counts = (details.body as { usage: { by_endpoint: { count: number }[] } }).usage;
    expect(counts.by_endpoint.reduce((n, e) => n + e.count, 0)).toBe(350);
  });
});

describeEachStore("API keys: usage survives a graceful stop", (store) => {
  it("flushes every buffered call when the server stops right after traffic", async () => {
    // A long flush interval: only the shutdown flush can have written these counts.
    const env = { LATCHKEY_USAGE_FLUSH_MS: "600000" };
    const first = await startTestServer({ store, env });
    let second: TestServer | undefined;
    try {
      const api = client(first.url);
      const user = await signupAndLogin(first.url);
      const key = await createKey(api, user.accessToken);
      await Promise.all(
        Array.from({ length: 25 }, () => api.get("/v1/auth/whoami", { token: key.key })),
      );
      await Promise.all(
        Array.from({ length: 25 }, () =>
          api.post("/v1/keys/verify", { key: key.key }, { token: user.accessToken }),
        ),
      );
      expect((await usageRow(first, key.id)).usage_count).toBe(0);
      await first.stop();

      second = await startTestServer({
        store,
        env: { ...env, LATCHKEY_DATA_DIR: first.dataDir },
        ...(store === "postgres" ? { databaseUrl: first.config.database } : {}),
      });
      const api2 = client(second.url);
      const login = await api2.post("/v1/auth/login", { email: user.email, password: PASSWORD });
      const details = await api2.get(`/v1/api-keys/${key.id}`, {
        token: login.body.access_token,
      });
      expect(details.body.usage_count).toBe(50);
      expect(details.body.usage.by_endpoint).toEqual(
        expect.arrayContaining([
          { endpoint: "GET /v1/auth/whoami", count: 25 },
          { endpoint: "unspecified", count: 25 },
        ]),
      );
      const activity = await second.db
        .selectFrom("key_activity")
        .select("id")
        .where("key_id", "=", key.id)
        .execute();
      expect(activity).toHaveLength(50);
    } finally {
      await second?.close();
      await first.close();
    }
  });

  it("flushes on SIGTERM: a real `latchkey serve` process, stopped right after traffic", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "latchkey-sigterm-"));
    const pg = store === "postgres" ? await freshPostgres() : null;
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      PORT: "0",
      HOST: "127.0.0.1",
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_USAGE_FLUSH_MS: "600000",
      LOG_LEVEL: "debug",
      // What is measured is the usage flush, not the hash: cheap password hashes (test runs only).
      NODE_ENV: "test",
      LATCHKEY_PASSWORD_HASH: "test",
    };
    delete env.REDIS_URL;
    if (pg) env.DATABASE_URL = pg.url;
    else delete env.DATABASE_URL;
    const child = spawn(process.execPath, ["dist/main.js", "serve"], { env, stdio: "pipe" });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const started = Date.now();
      while (!/listening on (http:\/\/\S+)/.test(output) && Date.now() - started < 20_000)
        await new Promise((resolve) => setTimeout(resolve, 50));
      const url = /listening on (http:\/\/\S+)/.exec(output)![1]!;
      const api = client(url);
      const user = await signupAndLogin(url);
      const key = await createKey(api, user.accessToken);
      for (let i = 0; i < 30; i++) await api.get("/v1/auth/whoami", { token: key.key });
      for (let i = 0; i < 10; i++)
        await api.post(
          "/v1/keys/verify",
          { key: key.key, endpoint: "GET /builds" },
          { token: user.accessToken },
        );
      child.kill("SIGTERM");
      expect(await exited).toBe(0);

      const db = openDb(pg ? pg.url : join(dataDir, "latchkey.db"));
      try {
        const row = await db.db
          .selectFrom("api_keys")
          .select(["usage_count", "last_used_at"])
          .where("id", "=", key.id)
          .executeTakeFirstOrThrow();
        expect(row.usage_count).toBe(40);
        expect(row.last_used_at).not.toBeNull();
        const buckets = await db.db
          .selectFrom("key_usage")
          .select(["endpoint", "count"])
          .where("key_id", "=", key.id)
          .execute();
        expect(buckets.reduce((n, b) => n + Number(b.count), 0)).toBe(40);
        const activity = await db.db
          .selectFrom("key_activity")
          .select("id")
          .where("key_id", "=", key.id)
          .execute();
        expect(activity).toHaveLength(40);
      } finally {
        await db.close();
      }
      // Debug logging was on: the key's secret part must appear nowhere in it.
      expect(output).toContain("request");
      expect(output).not.toContain(key.key.slice(12));
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await pg?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
