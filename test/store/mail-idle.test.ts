/**
 * The mail sender polls every second. With nothing due, its poll must not need SQLite's
 * write lock: while another connection holds it (a long write elsewhere), the idle poll
 * answers at once instead of waiting out the busy timeout.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SQLite from "better-sqlite3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { migrate, openDb } from "../../src/store/db.js";
import { kyselyStore, type KyselyStore } from "../../src/store/kysely/index.js";

let dir: string;
let store: KyselyStore;
let other: SQLite.Database;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "latchkey-mail-idle-"));
  const db = openDb(join(dir, "latchkey.db"));
  await migrate(db);
  store = kyselyStore(db);
  other = new SQLite(join(dir, "latchkey.db"));
});
afterAll(async () => {
  other?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("claims nothing, at once, while another connection holds the write lock", async () => {
  other.exec("BEGIN IMMEDIATE");
  try {
    const started = Date.now();
    expect(await store.mail.claim(Date.now(), Date.now() + 60_000, 10)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1_000);
  } finally {
    other.exec("ROLLBACK");
  }
});

it("still claims a due message once the lock is free", async () => {
  const now = Date.now();
  await store.mail.insert({
    id: "msg_idle",
    kind: "verify_email",
    payload: "sealed",
    created_at: now,
    next_attempt_at: now,
    attempts: 0,
    lease_until: null,
    sent_at: null,
    failed_at: null,
    last_error: null,
  });
  const claimed = await store.mail.claim(now, now + 60_000, 10);
  expect(claimed.map((row) => row.id)).toEqual(["msg_idle"]);
  expect(await store.mail.claim(now, now + 60_000, 10)).toEqual([]); // leased now
});
