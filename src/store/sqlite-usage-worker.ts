/**
 * Usage flushes for a file-backed SQLite database, off the event loop: a worker thread with
 * its own better-sqlite3 connection to the same file (WAL) runs each flush's statements,
 * prepared once, in one transaction. `:memory:` databases can't be shared with a thread and
 * keep the in-process path (KyselyUsage.flush).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Kysely } from "kysely";
import type { Transact } from "./kysely/index.js";
import { KyselyUsage } from "./kysely/usage.js";
import type { CreditsWriteBack, UsageBatch } from "./port.js";
import type { Database } from "./schema.js";
import { SQLITE_FLUSH_SQL, sqliteFlushSteps } from "./usage-sql.js";
import { BUSY_TIMEOUT_MS, GATE_WORKER, WORKER_GATE_SOURCE, type WriteGate } from "./write-gate.js";

// Plain CommonJS, run with `eval`: the same in tests (TypeScript sources) and in dist.
const WORKER_SOURCE = `
const { parentPort, workerData, threadId } = require("node:worker_threads");
${WORKER_GATE_SOURCE}
const gate = new Int32Array(workerData.gate);
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("foreign_keys = ON");
db.pragma("busy_timeout = 5000");
let statements = null;
const run = db.transaction((steps) => {
  const stored = [];
  for (const [name, params] of steps) {
    const statement = statements[name];
    if (name === "stored") stored.push(...statement.all(...params));
    else statement.run(...params);
  }
  return stored;
});
parentPort.on("message", ({ id, steps, close }) => {
  if (close) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    if (!statements) {
      statements = {};
      for (const [name, text] of Object.entries(workerData.sql)) statements[name] = db.prepare(text);
    }
    // The write gate first (the event loop's writers go before it), then SQLite's lock.
    if (!enterGate(gate, workerData.timeoutMs)) throw new Error("database is locked (write gate)");
    let stored;
    try {
      stored = run.immediate(steps);
    } finally {
      leaveGate(gate);
    }
    parentPort.postMessage({ id, ok: true, stored, threadId });
  } catch (error) {
    parentPort.postMessage({ id, ok: false, error: String(error && error.message || error) });
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  stored?: { key_id: string; n: number }[];
  threadId?: number;
  error?: string;
}

export class SqliteWorkerUsage extends KyselyUsage {
  private worker: Worker | null = null;
  private serial = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (reply: Reply) => void; reject: (error: Error) => void }
  >();
  /** For tests: flushes the worker ran, and the thread it ran them on. */
  readonly workerStats = { flushes: 0, threadId: 0 };

  constructor(
    db: Kysely<Database>,
    transact: Transact,
    private readonly file: string,
    private readonly gate: WriteGate,
  ) {
    super(db, "sqlite", transact);
  }

  override async flush(batch: UsageBatch): Promise<Map<string, number>> {
    const steps = sqliteFlushSteps(batch);
    if (steps.length === 0) return new Map();
    const reply = await this.send(steps);
    if (!reply.ok) throw new Error(reply.error ?? "usage flush failed");
    this.workerStats.flushes += 1;
    this.workerStats.threadId = reply.threadId ?? 0;
    return new Map((reply.stored ?? []).map((r) => [r.key_id, Number(r.n)]));
  }

  /** In the worker too: one statement over a JSON array, off the event loop. */
  override async writeCredits(rows: CreditsWriteBack[]): Promise<void> {
    if (rows.length === 0) return;
    const values = JSON.stringify(rows.map((r) => [r.pool, r.gen, r.remaining, r.period]));
    const reply = await this.send([["credits", [values]]]);
    if (!reply.ok) throw new Error(reply.error ?? "credit write-back failed");
  }

  private send(steps: unknown): Promise<Reply> {
    const worker = this.start();
    const id = (this.serial += 1);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, steps });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        file: this.file,
        driver: createRequire(import.meta.url).resolve("better-sqlite3"),
        sql: SQLITE_FLUSH_SQL,
        gate: this.gate.shared,
        timeoutMs: BUSY_TIMEOUT_MS,
      },
    });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      waiter?.resolve(reply);
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = null;
      // A worker that died holding the gate must not keep the event loop's writers out.
      this.gate.release(GATE_WORKER);
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`usage worker exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  /** Waits for flushes in flight, then stops the worker (its connection closes with it). */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await Promise.allSettled(
      [...this.waiting.values()].map(
        (w) =>
          new Promise<void>((done) => {
            const { resolve, reject } = w;
            w.resolve = (r) => (resolve(r), done());
            w.reject = (e) => (reject(e), done());
          }),
      ),
    );
    this.worker = null;
    const exited = new Promise<void>((done) => worker.once("exit", () => done()));
    worker.postMessage({ close: true });
    await exited;
  }
}
