import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/main.js";
import { freshPostgres, type StoreKind } from "./stores.js";

export interface TestServer extends RunningServer {
  config: Config;
  dataDir: string;
  /** Stops the server and removes its database and data dir. */
  close(): Promise<void>;
}

export interface TestServerOptions {
  store?: StoreKind;
  env?: Record<string, string>;
  now?: () => number;
  /** Share Redis (TEST_REDIS_URL) under this prefix; a fresh prefix when true. */
  redis?: boolean | string;
  /** Reuse a database URL (for two instances on one PostgreSQL). */
  databaseUrl?: string;
}

export function hasRedis(): boolean {
  return Boolean(process.env.TEST_REDIS_URL);
}

export function freshRedisPrefix(): string {
  return `lktest:${randomBytes(6).toString("hex")}:`;
}

/**
 * A real server on a free port, on a fresh SQLite file or a fresh PostgreSQL database, with
 * test-cost password hashes unless `env` asks for the real ones.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "latchkey-test-"));
  let dropDb: (() => Promise<void>) | null = null;
  const env: Record<string, string> = {
    PORT: "0",
    HOST: "127.0.0.1",
    LATCHKEY_DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    // Cheap password hashes (config accepts them only beside NODE_ENV=test): a suite signs up
    // hundreds of accounts. Tests that measure hashing pass LATCHKEY_PASSWORD_HASH: "owasp".
    NODE_ENV: "test",
    LATCHKEY_PASSWORD_HASH: "test",
    ...options.env,
  };
  if (options.databaseUrl) {
    env.DATABASE_URL = options.databaseUrl;
  } else if (options.store === "postgres") {
    const db = await freshPostgres();
    env.DATABASE_URL = db.url;
    dropDb = db.drop;
  }
  if (options.redis) {
    const url = process.env.TEST_REDIS_URL;
    if (!url) throw new Error("TEST_REDIS_URL is not set");
    env.REDIS_URL = url;
    env.LATCHKEY_REDIS_PREFIX =
      typeof options.redis === "string" ? options.redis : freshRedisPrefix();
  }
  const config = loadConfig(env);
  const server = await startServer(config, { now: options.now });
  return {
    ...server,
    config,
    dataDir,
    async close() {
      await server.stop();
      if (dropDb) await dropDb();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
