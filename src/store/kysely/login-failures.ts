import type { Kysely } from "kysely";
import type { LoginFailureStore } from "../port.js";
import type { Database } from "../schema.js";

export class KyselyLoginFailures implements LoginFailureStore {
  constructor(private readonly db: Kysely<Database>) {}

  async count(email: string): Promise<number> {
    const row = await this.db
      .selectFrom("login_failures")
      .select("failures")
      .where("email", "=", email)
      .executeTakeFirst();
    return row?.failures ?? 0;
  }

  async add(email: string, now: number): Promise<number> {
    // One statement on both engines, so concurrent failures each get their own number.
    const row = await this.db
      .insertInto("login_failures")
      .values({ email, failures: 1, last_failed_at: now })
      .onConflict((oc) =>
        oc.column("email").doUpdateSet((eb) => ({
          failures: eb("login_failures.failures", "+", 1),
          last_failed_at: now,
        })),
      )
      .returning("failures")
      .executeTakeFirstOrThrow();
    return Number(row.failures);
  }

  async subtract(email: string): Promise<void> {
    await this.db
      .updateTable("login_failures")
      .set((eb) => ({ failures: eb("failures", "-", 1) }))
      .where("email", "=", email)
      .where("failures", ">", 0)
      .execute();
  }

  async clear(email: string): Promise<void> {
    await this.db.deleteFrom("login_failures").where("email", "=", email).execute();
  }

  async prune(before: number, keepFrom: number): Promise<number> {
    const result = await this.db
      .deleteFrom("login_failures")
      .where("last_failed_at", "<", before)
      .where((eb) =>
        eb.or([
          eb("failures", "<", keepFrom),
          eb.not(
            eb.exists(
              eb
                .selectFrom("users")
                .select("users.id")
                .whereRef("users.email", "=", "login_failures.email"),
            ),
          ),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
