import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { ScopeCatalogue } from "../core/scopes.js";
import { migrate, openDb, type Db } from "../store/db.js";
import { Accounts } from "./accounts/accounts.js";
import { ApiKeys } from "./keys/api-keys.js";
import { AuditLog } from "./audit/audit.js";
import { LocalBus, RedisBus, type Bus } from "../infra/bus.js";
import { KeyCache } from "./keys/cache.js";
import { KeyChecker } from "./keys/check.js";
import { KeyVerifier } from "./keys/verify.js";
import type { Context } from "./context.js";
import { MemoryLimiter, RedisLimiter, type Limiter } from "../infra/limiter.js";
import { Projects } from "./projects/projects.js";
import { loadSecrets, SecretBox } from "../infra/secrets.js";
import { Sessions } from "./accounts/sessions.js";
import { AccessTokens } from "./accounts/tokens.js";
import { TwoFactor } from "./twofa/twofa.js";
import { UsageBuffer } from "./usage/usage.js";
import { Users } from "./accounts/users.js";

export interface Services {
  ctx: Context;
  audit: AuditLog;
  users: Users;
  sessions: Sessions;
  accounts: Accounts;
  apiKeys: ApiKeys;
  projects: Projects;
  /** API keys as credentials and `POST /v1/keys/verify` (the hot path), with usage counting. */
  keyVerifier: KeyVerifier;
  twofa: TwoFactor;
  /** Flushes buffers and closes connections; safe to call once. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  config: Config;
  logger: Logger;
  now?: () => number;
}

/** config → store → services: everything a server (or a test) needs, built once. */
export async function createServices({
  config,
  logger,
  now = Date.now,
}: ServiceOptions): Promise<Services> {
  const store = openDb(config.database);
  await migrate(store);
  const secrets = await loadSecrets(config);
  const box = new SecretBox(secrets.masterKey);
  await checkMasterKey(store, box);

  let redis: Redis | undefined;
  let limiter: Limiter;
  let bus: Bus;
  if (config.redisUrl) {
    redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
    redis.on("error", (error: Error) => logger.warn({ err: error.message }, "redis error"));
    await redis.connect();
    limiter = new RedisLimiter(redis, `${config.redisPrefix}rl:`);
    bus = await RedisBus.connect(redis, config.redisPrefix);
  } else {
    limiter = new MemoryLimiter(now);
    bus = new LocalBus();
  }

  const ctx: Context = {
    config,
    store,
    db: store.db,
    now,
    logger,
    catalogue: new ScopeCatalogue(config.scopes),
    limiter,
    bus,
    secrets,
    box,
    tokens: new AccessTokens(secrets.signing, config.issuer, config.accessTtlMs, now),
    redis,
  };

  const audit = new AuditLog(ctx);
  const users = new Users(ctx, audit);
  const sessions = new Sessions(ctx, audit);
  const accounts = new Accounts(ctx, sessions, audit);
  const projects = new Projects(ctx, audit);
  const keyCache = new KeyCache(ctx);
  const keyChecker = new KeyChecker(ctx, keyCache, users, audit);
  const usage = new UsageBuffer(ctx);
  const keyVerifier = new KeyVerifier(ctx, keyChecker, usage);
  const apiKeys = new ApiKeys(ctx, projects, audit);
  const twofa = new TwoFactor(ctx, audit, accounts);
  accounts.secondFactor = twofa;

  let closed = false;
  return {
    ctx,
    audit,
    users,
    sessions,
    accounts,
    apiKeys,
    projects,
    keyVerifier,
    twofa,
    async close() {
      if (closed) return;
      closed = true;
      // Buffered usage and refusal audits go to the store before it closes.
      await usage.close();
      await keyChecker.drain();
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
async function checkMasterKey(store: Db, box: SecretBox): Promise<void> {
  const row = await store.db
    .selectFrom("totp_factors")
    .select(["user_id", "secret_ciphertext"])
    .limit(1)
    .executeTakeFirst();
  if (!row) return;
  try {
    box.open(row.secret_ciphertext, `totp:${row.user_id}`);
  } catch {
    await store.close();
    throw new Error(
      "the master key does not match the one that encrypted the stored TOTP secrets (check LATCHKEY_MASTER_KEY or master.key)",
    );
  }
}
