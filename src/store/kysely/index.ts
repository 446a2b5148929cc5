import { sql, type Kysely, type Transaction } from "kysely";
import type { Db } from "../db.js";
import { traitsOf, type EngineTraits } from "../engines.js";
import type { Engine, Store } from "../port.js";
import type { Database } from "../schema.js";
import { KyselyAccountTokens } from "./account-tokens.js";
import { KyselyAudit } from "./audit.js";
import { KyselyKeys } from "./keys.js";
import { KyselyLoginFailures } from "./login-failures.js";
import { KyselyMail } from "./mail.js";
import { KyselyPasskeys } from "./passkeys.js";
import { KyselyOrgs } from "./orgs.js";
import { KyselyOwnerLimits } from "./owner-limits.js";
import { KyselyProjects } from "./projects.js";
import { KyselySealed } from "./sealed.js";
import { KyselySessions } from "./sessions.js";
import { KyselyTwoFactor } from "./twofa.js";
import { SqliteWorkerUsage } from "../sqlite-usage-worker.js";
import { KyselyUsage } from "./usage.js";
import { KyselyUsers } from "./users.js";
import { KyselyWebhooks } from "./webhooks.js";

/** Runs statements atomically: a new transaction, or the one a bound store is already in. */
export type Transact = <T>(fn: (trx: Kysely<Database>) => Promise<T>) => Promise<T>;

/** The store port over Kysely, for SQLite and PostgreSQL alike. */
export class KyselyStore implements Store {
  readonly engine: Engine;
  readonly users: KyselyUsers;
  readonly sessions: KyselySessions;
  readonly keys: KyselyKeys;
  readonly usage: KyselyUsage;
  readonly audit: KyselyAudit;
  readonly twofa: KyselyTwoFactor;
  readonly projects: KyselyProjects;
  readonly accountTokens: KyselyAccountTokens;
  readonly mail: KyselyMail;
  readonly passkeys: KyselyPasskeys;
  readonly ownerLimits: KyselyOwnerLimits;
  readonly loginFailures: KyselyLoginFailures;
  readonly sealed: KyselySealed;
  readonly webhooks: KyselyWebhooks;
  readonly orgs: KyselyOrgs;
  private readonly transact: Transact;
  /** SQLite: the names held by this process (the only one on its database file). */
  private readonly held = new Set<string>();

  /**
   * `db` is the database (or, for a bound store, its transaction). Tools and tests that
   * must look at raw rows may read it; services never see it.
   */
  constructor(
    readonly db: Kysely<Database>,
    private readonly traits: EngineTraits,
    private readonly owner: Db | null,
    private readonly inTransaction = false,
  ) {
    this.engine = traits.engine;
    this.transact = inTransaction
      ? (fn) => fn(db)
      : (fn) => db.transaction().execute((trx) => fn(trx));
    this.users = new KyselyUsers(db, traits);
    this.sessions = new KyselySessions(db, this.transact);
    this.keys = new KyselyKeys(db);
    // A file-backed SQLite database flushes usage in a worker thread, off the event loop.
    const gate = owner?.engine === "sqlite" ? owner.gate : null;
    this.usage = gate
      ? new SqliteWorkerUsage(db, this.transact, owner!.location, gate)
      : new KyselyUsage(db, traits.engine, this.transact);
    this.audit = new KyselyAudit(db);
    this.twofa = new KyselyTwoFactor(db, this.transact);
    this.projects = new KyselyProjects(db);
    this.accountTokens = new KyselyAccountTokens(db);
    this.mail = new KyselyMail(db, traits);
    this.passkeys = new KyselyPasskeys(db);
    this.ownerLimits = new KyselyOwnerLimits(db, this.transact);
    this.loginFailures = new KyselyLoginFailures(db);
    this.sealed = new KyselySealed(db, this.transact);
    this.webhooks = new KyselyWebhooks(db, traits, this.transact);
    this.orgs = new KyselyOrgs(db, traits, this.transact);
  }

  async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
    if (this.engine !== "postgres") {
      if (this.held.has(name)) return undefined;
      this.held.add(name);
      try {
        return await fn();
      } finally {
        this.held.delete(name);
      }
    }
    // A session-level advisory lock on one reserved connection, released on that same
    // connection; if the process dies, PostgreSQL drops the lock with the connection.
    return this.db.connection().execute(async (conn) => {
      const taken = await sql<{ ok: boolean }>`
        select pg_try_advisory_lock(hashtext(${name})) as ok`.execute(conn);
      if (!taken.rows[0]?.ok) return undefined;
      try {
        return await fn();
      } finally {
        await sql`select pg_advisory_unlock(hashtext(${name}))`.execute(conn);
      }
    });
  }

  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    return this.db
      .transaction()
      .execute((trx: Transaction<Database>) => fn(new KyselyStore(trx, this.traits, null, true)));
  }

  async ping(): Promise<boolean> {
    if (this.owner) return this.owner.ping();
    try {
      await this.db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.usage instanceof SqliteWorkerUsage) await this.usage.close();
    if (this.owner) await this.owner.close();
  }
}

/** The port over an opened database (see `openDb`); closing the store closes the database. */
export function kyselyStore(db: Db): KyselyStore {
  return new KyselyStore(db.db, traitsOf(db.engine), db);
}
