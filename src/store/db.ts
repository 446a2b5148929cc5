import { closeSync, mkdirSync, openSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDialectConfig,
} from "kysely";
import pg from "pg";
import { migrationProvider } from "./migrations.js";
import { POSTGRES, SQLITE } from "./engines.js";
import type { Engine } from "./port.js";
import type { Database } from "./schema.js";

export type { Engine } from "./port.js";

export interface Db {
  db: Kysely<Database>;
  engine: Engine;
  /** The SQLite file (or `:memory:`), or the PostgreSQL URL. */
  location: string;
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
  sqlite.pragma("busy_timeout = 5000");
  const dialect =
    location === ":memory:"
      ? new SqliteDialect({ database: sqlite })
      : new ImmediateSqliteDialect({ database: sqlite });
  const db = new Kysely<Database>({ dialect });
  return wrap(db, "sqlite", location);
}

/**
 * A file-backed database has a second connection (the usage worker's, see
 * sqlite-usage-worker.ts). A deferred transaction that reads, awaits, then writes after the
 * other connection committed fails with SQLITE_BUSY (its snapshot is stale), so transactions
 * here take the write lock when they begin, waiting out the worker's short ones (busy_timeout).
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly settings: SqliteDialectConfig) {
    super(settings);
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.settings);
  }
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
