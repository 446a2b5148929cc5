import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { ScopeCatalogue } from "../core/scopes.js";
import type { Db } from "../store/db.js";
import type { Database } from "../store/schema.js";
import type { Bus } from "../infra/bus.js";
import type { Limiter } from "../infra/limiter.js";
import type { SecretBox, Secrets } from "../infra/secrets.js";
import type { AccessTokens } from "./accounts/tokens.js";

/** What every service receives: built once at start, no module-level singletons. */
export interface Context {
  config: Config;
  store: Db;
  db: Kysely<Database>;
  /** Epoch milliseconds; tests pass a controllable clock. */
  now: () => number;
  logger: Logger;
  catalogue: ScopeCatalogue;
  limiter: Limiter;
  bus: Bus;
  secrets: Secrets;
  box: SecretBox;
  tokens: AccessTokens;
  redis: Redis | undefined;
}
