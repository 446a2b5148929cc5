import type { Kysely } from "kysely";
import type { OwnerLimitRow, OwnerLimitStore } from "../port.js";
import type { Database } from "../schema.js";
import type { Transact } from "./index.js";

export class KyselyOwnerLimits implements OwnerLimitStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly transact: Transact,
  ) {}

  of(ownerId: string): Promise<OwnerLimitRow[]> {
    return this.db
      .selectFrom("owner_ratelimits")
      .selectAll()
      .where("owner_id", "=", ownerId)
      .orderBy("name")
      .execute();
  }

  replace(ownerId: string, rows: OwnerLimitRow[]): Promise<void> {
    return this.transact(async (trx) => {
      await trx.deleteFrom("owner_ratelimits").where("owner_id", "=", ownerId).execute();
      if (rows.length > 0) await trx.insertInto("owner_ratelimits").values(rows).execute();
    });
  }
}
