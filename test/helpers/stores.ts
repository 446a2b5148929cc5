import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe } from "vitest";
import { pgConfig } from "../../src/store/db.js";

export type StoreKind = "sqlite" | "postgres";

/** SQLite always; PostgreSQL when TEST_DATABASE_URL is set (CI sets it). */
export const STORES: StoreKind[] = process.env.TEST_DATABASE_URL
  ? ["sqlite", "postgres"]
  : ["sqlite"];

/**
 * A suite that needs a shared PostgreSQL and Redis (two instances behind one load balancer).
 * Without TEST_DATABASE_URL and TEST_REDIS_URL vitest reports its tests skipped, under a
 * title that says what they need, instead of the file having no suite at all.
 */
export function describeCluster(name: string, suite: () => void): void {
  const missing = ["TEST_DATABASE_URL", "TEST_REDIS_URL"].filter(
    (variable) => !process.env[variable],
  );
  const title = missing.length ? `${name} (skipped: needs ${missing.join(" and ")})` : name;
  describe.skipIf(missing.length > 0)(title, suite);
}

/**
 * Runs a suite once per store, as `describe("<name> [sqlite]")` and `[postgres]`; without
 * TEST_DATABASE_URL the `[postgres]` one is reported skipped, saying so.
 */
export function describeEachStore(name: string, suite: (store: StoreKind) => void): void {
  describe(`${name} [sqlite]`, () => suite("sqlite"));
  const postgres = STORES.includes("postgres");
  const title = postgres
    ? `${name} [postgres]`
    : `${name} [postgres] (skipped: needs TEST_DATABASE_URL)`;
  describe.skipIf(!postgres)(title, () => suite("postgres"));
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A fresh PostgreSQL database for one server; dropped by the returned function. */
export async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error("TEST_DATABASE_URL is not set");
  const name = `lk_test_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client(pgConfig(admin));
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  return {
    url: withDatabase(admin, name),
    async drop() {
      const c = new pg.Client(pgConfig(admin));
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
