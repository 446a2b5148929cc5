/**
 * Latchkey under test: started from dist/ as its own process, seeded over HTTP (a user,
 * their token, keys made through POST /v1/api-keys) and, for the scale cases, with rows
 * written straight into api_keys in one transaction — exactly as the server stores them:
 * key_hash = SHA-256 hex of the full key string.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { displayPrefix, formatKey } from "../../src/core/key-format.js";
import { pgConfig } from "../../src/store/db.js";
import type { KeyRow as StoredKeyRow } from "../../src/store/port.js";
import { sha256 } from "../../src/infra/secrets.js";
import { startChild, type Child } from "./processes.js";

/** Where the server keeps its files (SQLite database, generated secrets) and its database. */
export type Store =
  { kind: "sqlite"; dataDir: string } | { kind: "postgres"; dataDir: string; url: string };

export function startLatchkey(
  root: string,
  store: Store,
  options: { profileDir?: string; name: string },
): Promise<Child> {
  const profile = options.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`] : [];
  return startChild({
    name: options.name,
    command: process.execPath,
    args: [...profile, join(root, "dist/main.js"), "serve"],
    cwd: root,
    env: {
      HOST: "127.0.0.1",
      PORT: "0",
      LATCHKEY_DATA_DIR: store.dataDir,
      DATABASE_URL: store.kind === "postgres" ? store.url : undefined,
      REDIS_URL: undefined,
      // Every case must answer 200: a per-key limit far above what one run can send.
      LATCHKEY_RATE_LIMIT_LIVE: "1000000000",
      LATCHKEY_RATE_LIMIT_TEST: "1000000000",
      LOG_LEVEL: "warn",
    },
    ready: /listening on (http:\/\/\S+) /,
  });
}

export interface Reply {
  status: number;
  body: any;
}

export async function call(
  url: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url + path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

function expect(reply: Reply, status: number, what: string): any {
  if (reply.status !== status)
    throw new Error(`${what}: HTTP ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
  return reply.body;
}

export interface Seeded {
  userId: string;
  email: string;
  password: string;
  accessToken: string;
  /** A service's key with keys:verify: the caller of POST /v1/keys/verify. */
  verifierKey: string;
  /** Keys made over HTTP with services:read. */
  keys: string[];
}

/** A user (the first account: staff) with a session and keys created through the API. */
export async function seedOverHttp(url: string): Promise<Seeded> {
  const email = `bench-${randomBytes(4).toString("hex")}@example.test`;
  const password = `bench-${randomBytes(12).toString("base64url")}`;
  const signup = expect(
    await call(url, "POST", "/v1/auth/signup", { body: { email, password } }),
    201,
    "signup",
  );
  const login = expect(
    await call(url, "POST", "/v1/auth/login", { body: { email, password } }),
    200,
    "login",
  );
  const token = login.access_token as string;
  const created = (name: string, scopes: string[]) =>
    call(url, "POST", "/v1/api-keys", { token, body: { name, scopes } }).then(
      (reply) => expect(reply, 201, `POST /v1/api-keys (${name})`).key as string,
    );
  const verifierKey = await created("bench verifier", ["keys:verify"]);
  const key = await created("bench client", ["services:read"]);
  return {
    userId: signup.user.id,
    email,
    password,
    accessToken: token,
    verifierKey,
    keys: [key],
  };
}

/** The columns the bulk loader writes; the rest keep their defaults. */
export type KeyRow = Pick<
  StoredKeyRow,
  "id" | "owner_id" | "name" | "prefix" | "key_hash" | "environment" | "scopes" | "created_at"
>;

/** Real keys from formatKey, as the server makes them: these are presented in the run. */
export function newKeys(count: number): string[] {
  return Array.from({ length: count }, () => formatKey("lk", "live", randomBytes(32)));
}

/** A stored key: its SHA-256 hex followed by its 12-character display prefix. */
export type StoredKey = string;

/** What the server stores of a key: its SHA-256 and display prefix. */
export const stored = (key: string): StoredKey => sha256(key) + displayPrefix(key);

/** Rows for `keys`, owned by `ownerId`, with ids (ascending) from `startIndex`. */
export function* keyRows(
  ownerId: string,
  keys: StoredKey[],
  startIndex: number,
): Generator<KeyRow> {
  const now = Date.now();
  for (let i = 0; i < keys.length; i++) {
    const n = startIndex + i;
    yield {
      id: `key_bench${n.toString(36).padStart(12, "0")}`,
      owner_id: ownerId,
      name: `bench ${n}`,
      prefix: keys[i]!.slice(64),
      key_hash: keys[i]!.slice(0, 64),
      environment: "live",
      scopes: '["services:read"]',
      created_at: now,
    };
  }
}

const COLUMNS = [
  "id",
  "owner_id",
  "name",
  "prefix",
  "key_hash",
  "environment",
  "scopes",
  "created_at",
];

/** Inserts rows in one transaction; the server may be running (SQLite WAL, busy timeout). */
export async function insertKeys(store: Store, rows: Iterable<KeyRow>): Promise<number> {
  let inserted = 0;
  if (store.kind === "sqlite") {
    const db = new Database(join(store.dataDir, "latchkey.db"));
    db.pragma("busy_timeout = 10000");
    // Seeding only (not measured): no fsync per page, a cache that holds the index.
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -262144");
    const insert = db.prepare(
      `insert into api_keys (${COLUMNS.join(", ")}, usage_count) values (${COLUMNS.map((c) => "@" + c).join(", ")}, 0)`,
    );
    db.transaction(() => {
      for (const row of rows) {
        insert.run(row);
        inserted++;
      }
    })();
    db.close();
    return inserted;
  }
  const client = new pg.Client(pgConfig(store.url));
  await client.connect();
  try {
    await client.query("begin");
    // Seeding only (not measured): the commit need not wait for the WAL flush.
    await client.query("set local synchronous_commit = off");
    let batch: KeyRow[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      // Column arrays through unnest: one statement per 50 000 rows, no parameter limit.
      await client.query(
        `insert into api_keys (${COLUMNS.join(", ")}, usage_count)
         select *, 0 from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                 $6::text[], $7::text[], $8::bigint[])`,
        COLUMNS.map((c) => batch.map((row) => row[c as keyof KeyRow])),
      );
      inserted += batch.length;
      batch = [];
    };
    for (const row of rows) {
      batch.push(row);
      if (batch.length === 50_000) await flush();
    }
    await flush();
    await client.query("commit");
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
  return inserted;
}

/**
 * Grows api_keys by `count` rows in one transaction, generated inside the database (the
 * fast way to a million): key-shaped strings (`lk_live_` + 49 random hex characters, the
 * real length and alphabet) stored as real keys are — SHA-256 hex of the full string and
 * its 12-character prefix — inserted in key_hash order so both indexes are appended to.
 * They are never presented, so their checksum is not computed.
 */
export async function growKeys(store: Store, ownerId: string, count: number): Promise<number> {
  const now = Date.now();
  if (store.kind === "sqlite") {
    const db = new Database(join(store.dataDir, "latchkey.db"));
    db.pragma("busy_timeout = 10000");
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -262144");
    db.pragma("temp_store = memory");
    db.function("bench_sha256", { deterministic: true }, (text) => sha256(String(text)));
    const result = db
      .prepare(
        `with recursive n(i) as (select 1 union all select i + 1 from n where i < @count),
         k(key) as materialized (select 'lk_live_' || lower(substr(hex(randomblob(25)), 1, 49)) from n),
         h(key, hash) as materialized (select key, bench_sha256(key) from k)
         insert into api_keys (${COLUMNS.join(", ")}, usage_count)
         select 'key_' || substr(hash, 1, 24), @owner, 'bench filler', substr(key, 1, 12), hash,
                'live', '["services:read"]', @now, 0
         from h order by hash`,
      )
      .run({ count, owner: ownerId, now });
    db.close();
    return result.changes;
  }
  const client = new pg.Client(pgConfig(store.url));
  await client.connect();
  try {
    await client.query("begin");
    await client.query("set local synchronous_commit = off");
    await client.query("set local work_mem = '256MB'");
    const result = await client.query(
      `insert into api_keys (${COLUMNS.join(", ")}, usage_count)
       select 'key_' || substr(hash, 1, 24), $1, 'bench filler', substr(key, 1, 12), hash,
              'live', '["services:read"]', $2, 0
       from (select key, encode(sha256(convert_to(key, 'UTF8')), 'hex') as hash
             from (select 'lk_live_' || substr(md5(random()::text) || md5(random()::text), 1, 49) as key
                   from generate_series(1, $3::int)) k) h
       order by hash`,
      [ownerId, now, count],
    );
    await client.query("commit");
    return result.rowCount ?? 0;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A fresh PostgreSQL database for one run, or null when none is reachable. */
export async function freshPostgres(
  adminUrl: string,
): Promise<{ url: string; drop: () => Promise<void> } | null> {
  const name = `latchkey_bench_${randomBytes(5).toString("hex")}`;
  const client = new pg.Client({ ...pgConfig(adminUrl), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query(`create database ${name}`);
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
  return {
    url: withDatabase(adminUrl, name),
    async drop() {
      const admin = new pg.Client(pgConfig(adminUrl));
      await admin.connect();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/**
 * Runs one statement written with PostgreSQL's `$n` parameters on either store (for SQLite the
 * parameters become `?` in the order they appear).
 */
async function execute(store: Store, sql: string, params: unknown[]): Promise<void> {
  if (store.kind === "sqlite") {
    const order: unknown[] = [];
    const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
      order.push(params[Number(n) - 1]);
      return "?";
    });
    const db = new Database(join(store.dataDir, "latchkey.db"));
    db.pragma("busy_timeout = 10000");
    db.prepare(text).run(...order);
    db.close();
    return;
  }
  const client = new pg.Client(pgConfig(store.url));
  await client.connect();
  try {
    await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/** The keys the verify cases present: the HTTP-made client key and the inserted ones. */
const CLIENT_KEYS = `scopes = '["services:read"]'`;

/** Takes b-lim's credits and named limit off the keys again (the cases after it run plain). */
export function unmeterKeys(store: Store, ownerId: string): Promise<void> {
  const sql = `update api_keys set credits_remaining = null, credits_pool = null,
    ratelimits = null where owner_id = $1 and ${CLIENT_KEYS}`;
  return execute(store, sql, [ownerId]);
}

/**
 * Gives the owner's `services:read` keys usage credits (more than a run can spend) and one
 * named limit (far above what a run can send), as `PATCH /v1/api-keys/:id` would store them.
 */
export function meterKeys(store: Store, ownerId: string): Promise<void> {
  const limits = JSON.stringify([
    { name: "api", limit: 1_000_000_000, window_ms: 60_000, cost: 1 },
  ]);
  const sql = `update api_keys set credits_remaining = 1000000000000, credits_pool = id,
    ratelimits = $2 where owner_id = $1 and ${CLIENT_KEYS}`;
  return execute(store, sql, [ownerId, limits]);
}

/** The address b-org's requests name (`ip`), inside the organization's allowlist. */
export const ORG_CLIENT_IP = "203.0.113.7";

/**
 * Case b-org: the seeded user makes an organization over HTTP and sets every policy a
 * verification checks (allowed environments, an IP allowlist, allowed scopes); then the
 * client keys move into it as keys the user minted there (`owner_id` the organization,
 * `created_by` the user, an owner), as `POST /v1/orgs/:id/api-keys` would store them.
 * Returns the organization's id.
 */
export async function orgKeys(url: string, store: Store, seeded: Seeded): Promise<string> {
  const token = seeded.accessToken;
  const org = expect(
    await call(url, "POST", "/v1/orgs", { token, body: { name: "bench org" } }),
    201,
    "POST /v1/orgs",
  ).id as string;
  expect(
    await call(url, "PATCH", `/v1/orgs/${org}/policy`, {
      token,
      body: {
        allowed_environments: ["live", "test"],
        ip_allow: ["203.0.113.0/24", "2001:db8::/32"],
        allowed_scopes: ["services:read", "services:write", "keys:verify"],
      },
    }),
    200,
    "PATCH /v1/orgs/:id/policy",
  );
  const sql = `update api_keys set owner_id = $1, created_by = $2 where owner_id = $2 and ${CLIENT_KEYS}`;
  await execute(store, sql, [org, seeded.userId]);
  return org;
}

/** Moves b-org's keys back to the user (the cases after it run on personal keys). */
export function personalKeys(store: Store, org: string, ownerId: string): Promise<void> {
  const sql = `update api_keys set owner_id = $2, created_by = null where owner_id = $1 and ${CLIENT_KEYS}`;
  return execute(store, sql, [org, ownerId]);
}
