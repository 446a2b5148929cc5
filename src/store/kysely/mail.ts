import type { Kysely } from "kysely";
import type { EngineTraits } from "../engines.js";
import type { MailRow, MailStore } from "../port.js";
import type { Database } from "../schema.js";
import { claimDue, type OutboxTable } from "./outbox-claim.js";

const MAIL: OutboxTable = { table: "mail_outbox", ended: ["sent_at", "failed_at"] };

export class KyselyMail implements MailStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly traits: EngineTraits,
  ) {}

  async insert(row: MailRow): Promise<void> {
    await this.db.insertInto("mail_outbox").values(row).execute();
  }

  claim(now: number, leaseUntil: number, limit: number): Promise<MailRow[]> {
    return claimDue<MailRow>(this.db, this.traits, MAIL, now, leaseUntil, limit);
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
