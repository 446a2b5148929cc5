/**
 * Crash safety: the real server (`node dist/main.js serve`) takes a stream of key
 * creations, revocations, signups and logins, and is killed with SIGKILL in the middle of
 * it. After a restart on the same data dir / database every acknowledged write is there,
 * and no row is half-written. SQLite runs in WAL mode with synchronous=FULL.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sha256 } from "../../src/infra/secrets.js";
import { openDb } from "../../src/store/db.js";
import { client, PASSWORD, signupAndLogin, uniqueEmail } from "../helpers/http.js";
import { describeEachStore, freshPostgres, type StoreKind } from "../helpers/stores.js";
import { startChild, stopChild, type Child } from "./child.js";

// `npm run test:soak` sets LATCHKEY_SOAK=1: more kill/restart cycles, longer streams.
const SOAK = process.env.LATCHKEY_SOAK === "1";
const STREAM_MS = SOAK ? 5_000 : 2_000;
const CYCLES = SOAK ? 8 : 1;

/** What the server acknowledged (answered with success) before it died. */
interface Acked {
  keys: Map<string, { id: string; key: string }>;
  revoked: Set<string>;
  users: Set<string>;
  refreshTokens: string[];
}

async function stream(
  url: string,
  token: string,
  acked: Acked,
  state: { dead: boolean },
): Promise<number> {
  const api = client(url);
  let calls = 0;
  const safely = async <T>(work: () => Promise<T>): Promise<T | null> => {
    try {
      calls += 1;
      return await work();
    } catch {
      return null; // the server died mid-request: not acknowledged
    }
  };
  const keyWorker = async (worker: number) => {
    for (let i = 0; !state.dead; i++) {
      const created = await safely(() =>
        api.post(
          "/v1/api-keys",
          { name: `crash-${worker}-${i}`, scopes: ["services:read"] },
          { token },
        ),
      );
      if (created?.status === 201)
        acked.keys.set(created.body.id, { id: created.body.id, key: created.body.key });
      if (i % 2 === 1) {
        const victim = [...acked.keys.keys()].find((id) => !acked.revoked.has(id));
        if (victim) {
          const revoked = await safely(() => api.delete(`/v1/api-keys/${victim}`, { token }));
          if (revoked?.status === 200) acked.revoked.add(victim);
        }
      }
    }
  };
  const signupWorker = async () => {
    while (!state.dead) {
      const email = uniqueEmail("crash");
      const reply = await safely(() => api.post("/v1/auth/signup", { email, password: PASSWORD }));
      if (reply?.status === 201) acked.users.add(email);
      const login = await safely(() => api.post("/v1/auth/login", { email, password: PASSWORD }));
      if (login?.status === 200) acked.refreshTokens.push(login.body.refresh_token);
    }
  };
  await Promise.all([keyWorker(0), keyWorker(1), keyWorker(2), signupWorker()]);
  return calls;
}

async function checkStore(location: string, acked: Acked): Promise<void> {
  const store = openDb(location);
  try {
    const db = store.db;
    if (store.engine === "sqlite") {
      const result = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(db);
      expect(result.rows[0]!.integrity_check).toBe("ok");
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
      expect(mode.rows[0]!.journal_mode).toBe("wal");
    }
    const users = await db.selectFrom("users").selectAll().execute();
    const userIds = new Set(users.map((u) => u.id));
    for (const user of users) expect(user.password_hash).toMatch(/^\$argon2id\$/);
    for (const email of acked.users)
      expect(
        users.some((u) => u.email === email),
        email,
      ).toBe(true);

    const keys = await db.selectFrom("api_keys").selectAll().execute();
    for (const key of keys) {
      expect(key.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(userIds.has(key.owner_id)).toBe(true);
      expect(key.prefix).toHaveLength(12);
      expect(Array.isArray(JSON.parse(key.scopes))).toBe(true);
    }
    for (const { id, key } of acked.keys.values()) {
      const row = keys.find((k) => k.id === id);
      expect(row, `acknowledged key ${id}`).toBeDefined();
      expect(row!.key_hash).toBe(sha256(key));
      if (acked.revoked.has(id)) expect(row!.revoked_at, `revocation of ${id}`).not.toBeNull();
    }

    const sessions = await db.selectFrom("sessions").selectAll().execute();
    const tokens = await db.selectFrom("refresh_tokens").selectAll().execute();
    const sessionIds = new Set(sessions.map((s) => s.id));
    for (const session of sessions) {
      expect(userIds.has(session.user_id)).toBe(true);
      expect(
        tokens.some((t) => t.session_id === session.id),
        `tokens of ${session.id}`,
      ).toBe(true);
    }
    for (const token of tokens) expect(sessionIds.has(token.session_id)).toBe(true);
    const hashes = new Set(tokens.map((t) => t.token_hash));
    for (const refresh of acked.refreshTokens) expect(hashes.has(sha256(refresh))).toBe(true);
  } finally {
    await store.close();
  }
}

describeEachStore("crash safety (SIGKILL mid-stream)", (store: StoreKind) => {
  let dataDir: string;
  let env: Record<string, string>;
  let location: string;
  let drop: (() => Promise<void>) | null = null;
  let running: Child | null = null;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "latchkey-crash-"));
    env = {
      PORT: "0",
      HOST: "127.0.0.1",
      LATCHKEY_DATA_DIR: dataDir,
      LOG_LEVEL: "silent",
      LATCHKEY_DEFAULT_PLAN: "enterprise",
      LATCHKEY_LOGIN_MAX_FAILURES_IP: "100000",
      // What is crashed here is the store, not the hash: cheap password hashes (test runs only).
      NODE_ENV: "test",
      LATCHKEY_PASSWORD_HASH: "test",
      DATABASE_URL: "",
    };
    location = join(dataDir, "latchkey.db");
    if (store === "postgres") {
      const pg = await freshPostgres();
      env.DATABASE_URL = pg.url;
      location = pg.url;
      drop = pg.drop;
    } else {
      delete env.DATABASE_URL;
    }
  });
  afterAll(async () => {
    if (running) await stopChild(running, "SIGKILL");
    if (drop) await drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    "keeps every acknowledged write and no half-written row across SIGKILLs",
    async () => {
      const childEnv = { ...env };
      if (store === "sqlite") delete childEnv.DATABASE_URL;
      running = await startChild(childEnv);
      const owner = await signupAndLogin(running.url, uniqueEmail("owner"));
      const acked: Acked = {
        keys: new Map(),
        revoked: new Set(),
        users: new Set(),
        refreshTokens: [],
      };

      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const login = await client(running.url).post("/v1/auth/login", {
          email: owner.email,
          password: PASSWORD,
        });
        expect(login.status).toBe(200);
        const state = { dead: false };
        const work = stream(running.url, login.body.access_token, acked, state);
        await new Promise((r) => setTimeout(r, STREAM_MS));
        // On a loaded machine argon2 signups are slow: keep streaming until each kind of
        // write was acknowledged in this cycle, then kill in the middle of the rest.
        const enough = {
          keys: acked.keys.size + 6,
          revoked: acked.revoked.size + 1,
          users: acked.users.size + 1,
        };
        for (let waited = 0; waited < 30_000; waited += 100) {
          if (
            acked.keys.size >= enough.keys &&
            acked.revoked.size >= enough.revoked &&
            acked.users.size >= enough.users
          )
            break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await stopChild(running, "SIGKILL");
        state.dead = true;
        running = null;
        const calls = await work;
        expect(calls).toBeGreaterThan(10);
        await checkStore(location, acked);
        running = await startChild(childEnv);
      }
      expect(acked.keys.size).toBeGreaterThan(5);
      expect(acked.revoked.size).toBeGreaterThan(0);
      expect(acked.users.size).toBeGreaterThan(0);

      // After the restart the acknowledged state is what the API serves.
      const api = client(running!.url);
      for (const { id, key } of [...acked.keys.values()].slice(-10)) {
        const reply = await api.get("/v1/auth/whoami", { token: key });
        if (acked.revoked.has(id)) expect(reply.body.error.code).toBe("key_revoked");
        else if (reply.status !== 200) expect(reply.body.error.code).toBe("key_revoked"); // revoke in flight at the kill
      }
      const email = [...acked.users][0]!;
      expect((await api.post("/v1/auth/login", { email, password: PASSWORD })).status).toBe(200);

      // The newest acknowledged login's refresh token still works (if a login was acknowledged).
      const last = acked.refreshTokens.at(-1);
      if (last)
        expect((await api.post("/v1/auth/refresh", { refresh_token: last })).status).toBe(200);
    },
    SOAK ? 600_000 : 120_000,
  );
});
