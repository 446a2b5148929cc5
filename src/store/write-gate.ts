/**
 * One writer at a time between the event loop's SQLite connection and the usage worker's,
 * without the event loop ever sleeping.
 *
 * SQLite lets one connection write at once; a second one that finds the lock taken waits in
 * SQLite's busy handler, synchronously, in steps of 1, 2, 5, 10… ms. On the event loop that
 * stops every request for as long as the worker's transaction lasts (bench/: verify during
 * sign-ins fell to 0.27 × of verify alone). So both sides take a shared flag first: the
 * worker blocks on `Atomics.wait` in its own thread; the event loop's writers wait with
 * `Atomics.waitAsync`, so while a sign-in's write waits for the worker, verification goes on.
 * The worker gives way whenever an event-loop writer is waiting.
 */
import type SQLite from "better-sqlite3";
import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from "kysely";

/** Who holds the gate (cell 0), and how many event-loop writers wait (cell 1). */
export const GATE_FREE = 0;
export const GATE_EVENT_LOOP = 1;
export const GATE_WORKER = 2;
/** How long a writer waits for the other connection (SQLite's busy_timeout and the gate's). */
export const BUSY_TIMEOUT_MS = 5000;
const HOLDER = 0;
const WAITING = 1;

export class WriteGate {
  private readonly cells: Int32Array;

  constructor(readonly shared: SharedArrayBuffer = new SharedArrayBuffer(8)) {
    this.cells = new Int32Array(shared);
  }

  /** Takes the gate for the event loop; resolves false after `timeoutMs`. Never blocks. */
  async acquire(timeoutMs: number): Promise<boolean> {
    const cells = this.cells;
    if (Atomics.compareExchange(cells, HOLDER, GATE_FREE, GATE_EVENT_LOOP) === GATE_FREE)
      return true;
    const deadline = performance.now() + timeoutMs;
    Atomics.add(cells, WAITING, 1);
    try {
      for (;;) {
        const held = Atomics.compareExchange(cells, HOLDER, GATE_FREE, GATE_EVENT_LOOP);
        if (held === GATE_FREE) return true;
        const left = deadline - performance.now();
        if (left <= 0) return false;
        const wait = Atomics.waitAsync(cells, HOLDER, held, left);
        if (wait.async) await wait.value;
      }
    } finally {
      Atomics.sub(cells, WAITING, 1);
    }
  }

  /** Gives the gate back (only if `side` holds it) and wakes whoever waits. */
  release(side: number = GATE_EVENT_LOOP): void {
    if (Atomics.compareExchange(this.cells, HOLDER, side, GATE_FREE) === side)
      Atomics.notify(this.cells, HOLDER);
  }

  get holder(): number {
    return Atomics.load(this.cells, HOLDER);
  }
}

/** The worker's side, as source for its eval'd script (it cannot import this module). */
export const WORKER_GATE_SOURCE = `
function enterGate(cells, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The event loop goes first: while one of its writers waits, the worker does not take the gate.
    if (Atomics.load(cells, 1) === 0 && Atomics.compareExchange(cells, 0, 0, 2) === 0) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    const held = Atomics.load(cells, 0);
    Atomics.wait(cells, 0, held, held === 0 ? 1 : Math.min(left, 50));
  }
}
function leaveGate(cells) {
  if (Atomics.compareExchange(cells, 0, 2, 0) === 2) Atomics.notify(cells, 0);
}
`;

const STATEMENT_CACHE = 500;

/**
 * The connection as Kysely's SQLite driver uses it (`prepare`, `close`), keeping prepared
 * statements by SQL text (bounded) instead of compiling each query's SQL again.
 */
export function cachedStatements(sqlite: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = (sql: string): SQLite.Statement => {
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = sqlite.prepare(sql);
      if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
      cache.set(sql, statement);
    }
    return statement;
  };
  const close = () => {
    cache.clear();
    return sqlite.close();
  };
  return { prepare, close } as unknown as SQLite.Database;
}

function busy(): Error {
  return Object.assign(new Error("database is locked (the usage worker held the write gate)"), {
    code: "SQLITE_BUSY",
  });
}

/**
 * Kysely's SQLite driver with every write behind the gate: a transaction takes it before
 * `begin immediate` and gives it back after `commit` or `rollback`; a write outside a
 * transaction takes it for that statement. Reads never wait (WAL).
 *
 * `begin immediate`: a deferred transaction that reads, awaits, then writes after another
 * connection committed fails with SQLITE_BUSY (its snapshot is stale). Another process (the
 * CLI, say) can still make a writer wait up to busy_timeout; the worker never does.
 */
class GatedSqliteDriver extends SqliteDriver {
  constructor(
    config: ConstructorParameters<typeof SqliteDriver>[0],
    private readonly gate: WriteGate,
  ) {
    super(config);
  }

  /** SQLite has one connection: it is wrapped once. */
  private connection: GatedConnection | null = null;

  override async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await super.acquireConnection();
    if (this.connection?.inner !== inner) this.connection = new GatedConnection(inner, this.gate);
    return this.connection;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const gated = connection as GatedConnection;
    if (!(await this.gate.acquire(BUSY_TIMEOUT_MS))) throw busy();
    gated.inTransaction = true;
    try {
      await gated.inner.executeQuery(CompiledQuery.raw("begin immediate"));
    } catch (error) {
      gated.end();
      throw error;
    }
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const gated = connection as GatedConnection;
    await gated.inner.executeQuery(CompiledQuery.raw("commit"));
    gated.end();
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const gated = connection as GatedConnection;
    try {
      await gated.inner.executeQuery(CompiledQuery.raw("rollback"));
    } finally {
      gated.end();
    }
  }

  override async releaseConnection(): Promise<void> {
    // A connection given back mid-transaction (it cannot be, but) must not keep the gate.
    this.connection?.end();
    await super.releaseConnection();
  }
}

class GatedConnection implements DatabaseConnection {
  inTransaction = false;

  constructor(
    readonly inner: DatabaseConnection,
    private readonly gate: WriteGate,
  ) {}

  end(): void {
    if (!this.inTransaction) return;
    this.inTransaction = false;
    this.gate.release();
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.inTransaction || query.query.kind === "SelectQueryNode")
      return this.inner.executeQuery<R>(query);
    if (!(await this.gate.acquire(BUSY_TIMEOUT_MS))) throw busy();
    try {
      return await this.inner.executeQuery<R>(query);
    } finally {
      this.gate.release();
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    // Streaming is for selects only (Kysely's SQLite driver refuses anything else).
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

export class GatedSqliteDialect extends SqliteDialect {
  constructor(
    private readonly settings: ConstructorParameters<typeof SqliteDialect>[0],
    private readonly gate: WriteGate,
  ) {
    super(settings);
  }

  override createDriver(): Driver {
    return new GatedSqliteDriver(this.settings, this.gate);
  }
}
