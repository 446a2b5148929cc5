import { sql, type Kysely } from "kysely";
import type { EngineTraits } from "../engines.js";
import type { MailRow, MailStore } from "../port.js";
import type { Database } from "../schema.js";

export class KyselyMail implements MailStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly traits: EngineTraits,
  ) {}

  async insert(row: MailRow): Promise<void> {
    await this.db.insertInto("mail_outbox").values(row).execute();
  }

  async claim(now: number, leaseUntil: number, limit: number): Promise<MailRow[]> {
    // The sender asks every second; mostly nothing is due. A read first, so an idle poll
    // never takes SQLite's write lock (nor a PostgreSQL row lock) from the requests.
    const due = await this.db
      .selectFrom("mail_outbox")
      .select("id")
      .where("sent_at", "is", null)
      .where("failed_at", "is", null)
      .where("next_attempt_at", "<=", now)
      .where((eb) => eb.or([eb("lease_until", "is", null), eb("lease_until", "<=", now)]))
      .limit(1)
      .executeTakeFirst();
    if (!due) return [];
    // One statement: the due rows are chosen and leased together. PostgreSQL skips rows
    // another sender is claiming this instant; SQLite's single writer serialises claims.
    const skipLocked = this.traits.engine === "postgres" ? sql` for update skip locked` : sql``;
    const result = await sql<MailRow>`
      update mail_outbox
         set lease_until = ${leaseUntil}, attempts = attempts + 1
       where id in (
         select id from mail_outbox
          where sent_at is null and failed_at is null and next_attempt_at <= ${now}
            and (lease_until is null or lease_until <= ${now})
          order by next_attempt_at, id
          limit ${limit}${skipLocked})
         and sent_at is null and failed_at is null
         and (lease_until is null or lease_until <= ${now})
      returning *`.execute(this.db);
    return result.rows.map((row) => ({ ...row, attempts: Number(row.attempts) }));
  }

  async sent(id: string, attempt: number, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable("mail_outbox")
      .set({ sent_at: at, lease_until: null, payload: "", last_error: null })
      .where("id", "=", id)
      .where("attempts", "=", attempt)
      .where("sent_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async failed(
    id: string,
    attempt: number,
    at: number,
    nextAttemptAt: number | null,
    error: string,
  ): Promise<void> {
    await this.db
      .updateTable("mail_outbox")
      .set(
        nextAttemptAt === null
          ? { lease_until: null, failed_at: at, payload: "", last_error: error.slice(0, 500) }
          : { lease_until: null, next_attempt_at: nextAttemptAt, last_error: error.slice(0, 500) },
      )
      .where("id", "=", id)
      .where("attempts", "=", attempt)
      .where("sent_at", "is", null)
      .execute();
  }

  async prune(before: number): Promise<number> {
    const result = await this.db
      .deleteFrom("mail_outbox")
      .where((eb) =>
        eb.or([
          eb.and([eb("sent_at", "is not", null), eb("sent_at", "<", before)]),
          eb.and([eb("failed_at", "is not", null), eb("failed_at", "<", before)]),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async pending(): Promise<number> {
    const row = await this.db
      .selectFrom("mail_outbox")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("sent_at", "is", null)
      .where("failed_at", "is", null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}
