import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { ScopeCatalogue } from "../core/scopes.js";
import type { BreachedPasswords } from "../infra/breached-passwords.js";
import type { Bus } from "../infra/bus.js";
import type { Limiter } from "../infra/limiter.js";
import type { Random } from "../infra/random.js";
import type { SecretBox, Secrets } from "../infra/secrets.js";
import type { Store } from "../store/port.js";
import type { AccessTokens } from "./accounts/tokens.js";
import type { MailTransport } from "./mail/transport.js";

/** Password hashing (argon2 in production, through the hash pool). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password or an unreadable hash. */
  verify(hash: string, password: string): Promise<boolean>;
}

/**
 * Everything services receive, as one value: built once in main.ts (or by a test, with any
 * part replaced), no module-level singletons. Services see the store port, never Kysely,
 * and the limiter and bus interfaces, never Redis.
 */
export interface Deps {
  config: Config;
  store: Store;
  /** The clock: epoch milliseconds; tests pass a controllable one. */
  now: () => number;
  /** Ids, keys, tokens and codes take their bytes here; tests pass a seeded one. */
  random: Random;
  logger: Logger;
  catalogue: ScopeCatalogue;
  limiter: Limiter;
  bus: Bus;
  secrets: Secrets;
  box: SecretBox;
  tokens: AccessTokens;
  passwords: PasswordHasher;
  /** Known-breached passwords (an empty list unless LATCHKEY_BREACHED_PASSWORDS names one). */
  breachedPasswords: BreachedPasswords;
  /** Where mail goes (SMTP, or `.eml` files in development); only the outbox sends. */
  mailer: MailTransport;
}
