import { sql, type RawBuilder } from "kysely";
import type { Engine } from "./port.js";

/**
 * What differs between SQLite and PostgreSQL, in one place. Everything else (conditional
 * updates, `ON CONFLICT … DO UPDATE` upserts, counts) is the same SQL on both.
 */
export interface EngineTraits {
  engine: Engine;
  /**
   * Appended to a `SELECT` that must hold its row until the transaction ends: PostgreSQL
   * locks the row; SQLite needs nothing, its one writer already serialises transactions.
   */
  rowLock: RawBuilder<unknown>;
  /** Whether an error from the driver is a unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean;
}

function errorCode(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return undefined;
  return (error as { code?: unknown }).code;
}

export const SQLITE: EngineTraits = {
  engine: "sqlite",
  rowLock: sql``,
  isUniqueViolation: (error) => {
    const code = errorCode(error);
    return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
  },
};

export const POSTGRES: EngineTraits = {
  engine: "postgres",
  rowLock: sql` for update`,
  isUniqueViolation: (error) => errorCode(error) === "23505",
};

export function traitsOf(engine: Engine): EngineTraits {
  return engine === "postgres" ? POSTGRES : SQLITE;
}
