import { closeSync, mkdirSync, openSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { migrationProvider } from "./migrations.js";
import { BUSY_TIMEOUT_MS, cachedStatements, GatedSqliteDialect, WriteGate } from "./write-gate.js";
import { POSTGRES, SQLITE } from "./engines.js";
import type { Engine } from "./port.js";
import type { Database } from "./schema.js";

export type { Engine } from "./port.js";

export interface Db {
  db: Kysely<Database>;
  engine: Engine;
  /** The SQLite file (or `:memory:`), or the PostgreSQL URL. */
  location: string;
  /** A file-backed SQLite database's write gate, shared with its usage worker. */
  gate?: WriteGate | null;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

// bigint columns hold epoch milliseconds and counters: well inside Number's safe range.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export function isPostgresUrl(url: string): boolean {
  return url.startsWith("postgres://") || url.startsWith("postgresql://");
}

/** Pool settings for a URL; a URL without a user name connects as the OS user, as psql does. */
export function pgConfig(url: string): pg.PoolConfig {
  const parsed = new URL(url);
  if (!parsed.username) parsed.username = encodeURIComponent(userInfo().username);
  return { connectionString: parsed.toString() };
}

/** Opens SQLite at a file path (or `:memory:`), or PostgreSQL at a `postgres://` URL. */
export function openDb(location: string, options: { poolSize?: number } = {}): Db {
  if (isPostgresUrl(location)) {
    const pool = new pg.Pool({ ...pgConfig(location), max: options.poolSize ?? 10 });
    // An idle client's error (server restart) must not crash the process.
    pool.on("error", () => undefined);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return wrap(db, "postgres", location);
  }
  if (location !== ":memory:") {
    mkdirSync(dirname(location), { recursive: true, mode: 0o700 });
    // Created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
    closeSync(openSync(location, "a", 0o600));
  }
  const sqlite = new SQLite(location);
  // WAL with synchronous=FULL: an acknowledged commit survives a crash or power loss.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // A file is shared with the usage worker: writes on both sides pass one gate (write-gate.ts).
  const gate = location === ":memory:" ? null : new WriteGate();
  const database = cachedStatements(sqlite);
  const dialect = gate
    ? new GatedSqliteDialect({ database }, gate)
    : new SqliteDialect({ database });
  const db = new Kysely<Database>({ dialect });
  return { ...wrap(db, "sqlite", location), gate };
}

function wrap(db: Kysely<Database>, engine: Engine, location: string): Db {
  return {
    db,
    engine,
    location,
    async ping() {
      try {
        await db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
        return true;
      } catch {
        return false;
      }
    },
    close: () => db.destroy(),
  };
}

export async function migrate(store: Db): Promise<void> {
  const migrator = new Migrator({ db: store.db, provider: migrationProvider(store.engine) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`migration ${failed} failed: ${String(error)}`);
  }
}

/** A unique-constraint violation on either engine. */
export function isUniqueViolation(error: unknown): boolean {
  return SQLITE.isUniqueViolation(error) || POSTGRES.isUniqueViolation(error);
}
