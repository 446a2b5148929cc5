import { createHash, timingSafeEqual } from "node:crypto";
import { importJWK, type CryptoKey, type JWK } from "jose";
import pino from "pino";
import { expect } from "vitest";
import { loadConfig, type Config } from "../../src/config.js";
import { LatchkeyError, type ErrorCode } from "../../src/core/errors.js";
import { ScopeCatalogue } from "../../src/core/scopes.js";
import { LocalBus } from "../../src/infra/bus.js";
import { MemoryLimiter } from "../../src/infra/limiter.js";
import { seededRandom } from "../../src/infra/random.js";
import { envRing } from "../../src/infra/master-keys.js";
import { newSigningJwk, SecretBox, type Secrets } from "../../src/infra/secrets.js";
import { AccessTokens } from "../../src/services/accounts/tokens.js";
import type { UserAccess } from "../../src/services/accounts/users.js";
import type { Deps, PasswordHasher } from "../../src/services/deps.js";
import { createServices, type Services } from "../../src/services/index.js";
import type { Caller } from "../../src/services/keys/api-keys.js";
import type { MailTransport, OutgoingMail } from "../../src/services/mail/transport.js";
import { noBreachedPasswords } from "../../src/infra/breached-passwords.js";
import { migrate, openDb } from "../../src/store/db.js";
import { kyselyStore, type KyselyStore } from "../../src/store/kysely/index.js";
import type { Store } from "../../src/store/port.js";

/**
 * A hasher for unit tests only: salted SHA-256, so a sign-in costs microseconds instead of
 * argon2's tens of milliseconds. Lives under test/, so no build ever ships it.
 */
let salts = 0;
export const fastHasher: PasswordHasher = {
  async hash(password) {
    const salt = `s${(salts += 1)}`;
    return `test$${salt}$${createHash("sha256").update(`${salt}:${password}`).digest("hex")}`;
  },
  async verify(hash, password) {
    const [kind, salt, digest] = hash.split("$");
    if (kind !== "test" || !salt || !digest) return false;
    const actual = createHash("sha256").update(`${salt}:${password}`).digest("hex");
    return timingSafeEqual(Buffer.from(actual), Buffer.from(digest));
  },
};

let signing: Promise<Secrets["signing"]> | undefined;
/** One Ed25519 key for every unit test in a file (key generation is the slow part). */
function signingKeys(): Promise<Secrets["signing"]> {
  signing ??= (async () => {
    const jwk: JWK = { ...(await newSigningJwk()) };
    const { d: _d, ...pub } = jwk;
    return {
      keys: [
        {
          kid: jwk.kid!,
          alg: "EdDSA" as const,
          privateKey: (await importJWK(jwk, "EdDSA")) as CryptoKey,
          publicKey: (await importJWK(pub, "EdDSA")) as CryptoKey,
          publicJwk: { ...pub, alg: "EdDSA", use: "sig" },
        },
      ],
    };
  })();
  return signing;
}

export interface TestDeps {
  deps: Deps;
  services: Services;
  /** The migrated SQLite `:memory:` store (its `db` for looking at raw rows). */
  store: KyselyStore;
  clock: { now: number };
  close(): Promise<void>;
}

/**
 * Services over an SQLite `:memory:` store (migrated), a frozen clock (advance
 * `clock.now`), a seeded random, the memory limiter, the local bus and a fast hasher:
 * no HTTP server, no files. `env` is applied over the defaults; `deps` replaces any part.
 */
export async function testServices(
  options: {
    env?: Record<string, string>;
    deps?: Partial<Deps>;
    seed?: string;
    /** Wraps the store the services see (e.g. to count its calls). */
    wrapStore?: (store: Store) => Store;
  } = {},
): Promise<TestDeps> {
  const config: Config = loadConfig({
    LATCHKEY_DATA_DIR: "/nonexistent-unit-test-dir",
    LOG_LEVEL: "silent",
    LATCHKEY_USAGE_FLUSH_MS: "3600000",
    ...options.env,
  });
  const db = openDb(":memory:");
  await migrate(db);
  const store = kyselyStore(db);
  const clock = { now: CLOCK_START };
  const now = () => clock.now;
  const masterKey = createHash("sha256").update("unit-test master key").digest();
  const masterKeys = envRing([masterKey.toString("hex")], "LATCHKEY_MASTER_KEY");
  const secrets: Secrets = { masterKeys, signing: await signingKeys() };
  const limiter = new MemoryLimiter(now);
  const bus = new LocalBus();
  const deps: Deps = {
    config,
    store: options.wrapStore ? options.wrapStore(store) : store,
    now,
    random: seededRandom(options.seed ?? "unit"),
    logger: pino({ level: "silent" }),
    catalogue: new ScopeCatalogue(config.scopes),
    limiter,
    bus,
    secrets,
    box: new SecretBox(masterKeys),
    tokens: new AccessTokens(
      secrets.signing,
      { issuer: config.issuer, audience: config.tokenAudience, ttlMs: config.accessTtlMs },
      now,
    ),
    passwords: fastHasher,
    breachedPasswords: noBreachedPasswords,
    mailer: memoryMailer(),
    ...options.deps,
  };
  const services = createServices(deps);
  return {
    deps,
    services,
    store,
    clock,
    async close() {
      await services.close();
      await deps.limiter.close();
      await deps.bus.close();
      await deps.store.close();
    },
  };
}

/** A mail transport that keeps what it was handed (unit tests; HTTP tests use real SMTP). */
export function memoryMailer(): MailTransport & { sent: OutgoingMail[] } {
  const sent: OutgoingMail[] = [];
  return {
    name: "memory",
    sent,
    async send(mail) {
      sent.push(mail);
    },
    async close() {},
  };
}

/** Awaits `promise`, expects a LatchkeyError with `code`, and returns it. */
export async function expectCode(settled: unknown, code: ErrorCode): Promise<LatchkeyError> {
  // A value or a promise (the hot path answers in the same turn when it can).
  const error = await Promise.resolve(settled).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof LatchkeyError))
    throw new Error(`expected LatchkeyError ${code}, got ${String(error)}`);
  expect(error.code).toBe(code);
  return error;
}

export const META = { ip: "203.0.113.7", userAgent: "unit-test" };
export const PASSWORD = "correct horse battery staple";

/** Signs a user up and returns their access; `first` users are staff. */
export async function signUp(t: TestDeps, email: string): Promise<UserAccess> {
  const user = await t.services.accounts.signup({ email, password: PASSWORD }, META);
  return (await t.services.users.access(user.id))!;
}

/** A session caller for key operations, acting as `user`. */
/** Where every unit test's frozen clock starts. */
export const CLOCK_START = Date.UTC(2026, 0, 1);

/**
 * A signed-in session of `user` as a key route's caller; it authenticated at `authTime`
 * (by default when the frozen clock starts, so step-up passes until the clock moves 10 min).
 */
export function sessionCaller(user: UserAccess, authTime = CLOCK_START): Caller {
  return {
    authTime,
    user,
    scopes: user.access,
    keyId: null,
    projectId: null,
    actor: "session:ses_test",
    ip: META.ip,
  };
}
