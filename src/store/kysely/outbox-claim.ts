import { sql, type Kysely } from "kysely";
import type { EngineTraits } from "../engines.js";
import type { Database } from "../schema.js";

/** An outbox table: its rows are due until one of `ended` (sent, given up …) is set. */
export interface OutboxTable {
  table: "mail_outbox" | "webhook_deliveries";
  ended: readonly ["sent_at" | "delivered_at", "failed_at"];
}

/**
 * Leases up to `limit` due rows of an outbox for one sender: each gets `lease_until` and one
 * more attempt, in one statement, so two senders never hold one row (PostgreSQL skips rows
 * another sender is claiming this instant; SQLite's single writer serialises claims). The
 * senders ask every second and mostly nothing is due: a read comes first, so an idle poll
 * never takes SQLite's write lock (nor a PostgreSQL row lock) from the requests.
 */
export async function claimDue<T extends { attempts: number }>(
  db: Kysely<Database>,
  traits: EngineTraits,
  outbox: OutboxTable,
  now: number,
  leaseUntil: number,
  limit: number,
): Promise<T[]> {
  const [done, failed] = outbox.ended.map((column) => sql.ref(column));
  const table = sql.table(outbox.table);
  const due = sql`${done} is null and ${failed} is null
            and (lease_until is null or lease_until <= ${now})`;
  const any = await sql<{ id: string }>`
    select id from ${table} where ${due} and next_attempt_at <= ${now} limit 1`.execute(db);
  if (any.rows.length === 0) return [];
  const skipLocked = traits.engine === "postgres" ? sql` for update skip locked` : sql``;
  const result = await sql<T>`
    update ${table}
       set lease_until = ${leaseUntil}, attempts = attempts + 1
     where id in (
       select id from ${table}
        where ${due} and next_attempt_at <= ${now}
        order by next_attempt_at, id
        limit ${limit}${skipLocked})
       and ${due}
    returning *`.execute(db);
  return result.rows.map((row) => ({ ...row, attempts: Number(row.attempts) }));
}
