#!/usr/bin/env node
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { loadConfig, type Config } from "./config.js";
import { ScopeCatalogue } from "./core/scopes.js";
import { buildApp, type App } from "./http/app.js";
import { LocalBus, RedisBus, type Bus } from "./infra/bus.js";
import { HashPool } from "./infra/hash-pool.js";
import { MemoryLimiter, RedisLimiter, type Limiter } from "./infra/limiter.js";
import { cryptoRandom } from "./infra/random.js";
import { UnknownMasterKeyError } from "./infra/secret-box.js";
import { loadSecrets, SecretBox } from "./infra/secrets.js";
import { createLogger } from "./logger.js";
import { AccessTokens } from "./services/accounts/tokens.js";
import type { Deps } from "./services/deps.js";
import { createServices, type Services } from "./services/index.js";
import { mailTransportFor } from "./services/mail/transport.js";
import { breachedPasswordsFrom } from "./infra/breached-passwords.js";
import { migrate, openDb } from "./store/db.js";
import { kyselyStore } from "./store/kysely/index.js";
import type { Store } from "./store/port.js";

export interface RunningServer {
  app: App;
  services: Services;
  /** The dependencies the services run on (store, clock, random, limiter, bus …). */
  deps: Deps;
  url: string;
  /** Stops accepting, lets in-flight requests finish, flushes buffers, closes the store. */
  stop(): Promise<void>;
}

export interface BuiltDeps {
  deps: Deps;
  /** Closes what was opened here (limiter, bus, Redis, store), in that order. */
  close(): Promise<void>;
}

/**
 * config → dependencies: opens and migrates the database, loads (or creates) the secret
 * files, checks the master key, connects Redis when configured. Any part can be passed
 * in `overrides` instead (a test's clock, random, hasher, store …).
 */
export async function buildDeps(
  config: Config,
  logger: Logger,
  overrides: Partial<Deps> = {},
): Promise<BuiltDeps> {
  const now = overrides.now ?? Date.now;
  let store: Store;
  if (overrides.store) store = overrides.store;
  else {
    const db = openDb(config.database);
    await migrate(db);
    store = kyselyStore(db);
  }
  const secrets = overrides.secrets ?? (await loadSecrets(config));
  const box = overrides.box ?? new SecretBox(secrets.masterKeys);
  await checkMasterKey(store, box);

  let redis: Redis | undefined;
  let limiter: Limiter;
  let bus: Bus;
  const random = overrides.random ?? cryptoRandom;
  if (config.redisUrl && !(overrides.limiter && overrides.bus)) {
    redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
    redis.on("error", (error: Error) => logger.warn({ err: error.message }, "redis error"));
    await redis.connect();
    limiter =
      overrides.limiter ??
      new RedisLimiter(redis, `${config.redisPrefix}rl:`, `${config.redisPrefix}kv:`);
    bus = overrides.bus ?? (await RedisBus.connect(redis, config.redisPrefix, random));
  } else {
    limiter = overrides.limiter ?? new MemoryLimiter(now);
    bus = overrides.bus ?? new LocalBus();
  }

  const deps: Deps = {
    config,
    store,
    now,
    random,
    logger,
    catalogue: overrides.catalogue ?? new ScopeCatalogue(config.scopes),
    limiter,
    bus,
    secrets,
    box,
    tokens:
      overrides.tokens ??
      new AccessTokens(
        secrets.signing,
        { issuer: config.issuer, audience: config.tokenAudience, ttlMs: config.accessTtlMs },
        now,
      ),
    passwords: overrides.passwords ?? new HashPool(config.passwordHash),
    breachedPasswords:
      overrides.breachedPasswords ?? (await breachedPasswordsFrom(config.breachedPasswords)),
    mailer: overrides.mailer ?? mailTransportFor(config, logger),
  };
  return {
    deps,
    async close() {
      await deps.mailer.close();
      await deps.breachedPasswords.close();
      await limiter.close();
      await bus.close();
      redis?.disconnect();
      await store.close();
    },
  };
}

/**
 * Refuses to start under a master key other than the one that sealed the stored TOTP
 * secrets: otherwise every 2FA sign-in would fail later, one user at a time.
 */
/** Refuses to start under a ring none of whose keys opens the stored TOTP secrets. */
async function checkMasterKey(store: Store, box: SecretBox): Promise<void> {
  const row = await store.twofa.anyFactor();
  if (!row) return;
  try {
    box.open(row.secret_ciphertext, `totp:${row.user_id}`);
  } catch (error) {
    await store.close();
    const which = error instanceof UnknownMasterKeyError ? ` (they name key ${error.keyId})` : "";
    throw new Error(
      `no key in the master-key ring opens the stored TOTP secrets${which}: the master key does not match the one that encrypted them (check LATCHKEY_MASTER_KEYS, LATCHKEY_MASTER_KEY or the data dir's master.key files)`,
    );
  }
}

export async function startServer(
  config: Config,
  options: { now?: () => number; deps?: Partial<Deps> } = {},
): Promise<RunningServer> {
  const logger = options.deps?.logger ?? createLogger(config.logLevel);
  const overrides: Partial<Deps> = { ...options.deps, logger };
  if (options.now) overrides.now = options.now;
  const built = await buildDeps(config, logger, overrides);
  const { deps } = built;
  const services = createServices(deps);
  const app = await buildApp(services, logger);
  await app.listen({ port: config.port, host: config.host });
  // Mail committed before a crash or restart goes out now; new mail as it is committed.
  services.mailOutbox.start();
  services.webhookSender.start();
  services.scheduler.start();
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  let stopping: Promise<void> | null = null;
  return {
    app,
    services,
    deps,
    url,
    stop() {
      stopping ??= (async () => {
        await app.close();
        // Buffered usage and refusal audits go to the store before it closes.
        await services.close();
        await built.close();
      })();
      return stopping;
    },
  };
}

/** `latchkey serve` / `npm start`: start, print the URL, stop cleanly on SIGTERM/SIGINT. */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfig(env);
  const server = await startServer(config);
  const engine =
    server.deps.store.engine === "postgres" ? "PostgreSQL" : `SQLite (${config.database})`;
  const shutdown = (signal: string) => {
    server.app.log.info({ signal }, "shutting down");
    server
      .stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        server.app.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      });
  };
  // SIGHUP: read the master-key files again (after `latchkey admin rotate-master-key`).
  process.on("SIGHUP", () => {
    try {
      server.app.log.info({ master_keys: server.deps.box.reload() }, "master-key ring reloaded");
    } catch (error) {
      server.app.log.error({ err: error }, "master-key ring not reloaded; keeping the old one");
    }
  });
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  // Said once the signal handlers are in place: a SIGHUP sent on seeing it is handled, not fatal.
  process.stdout.write(
    `Latchkey is listening on ${server.url} — portal: ${server.url}/ — database: ${engine}\n`,
  );
}

const invokedDirectly =
  process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly && process.argv[2] === "serve") {
  serve().catch((error: unknown) => {
    process.stderr.write(`latchkey: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
