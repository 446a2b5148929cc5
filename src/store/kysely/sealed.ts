import { sql, type Kysely, type RawBuilder } from "kysely";
import type {
  ResealableColumn,
  SealedChange,
  SealedColumn,
  SealedStore,
  SealedValue,
} from "../port.js";
import type { Database } from "../schema.js";
import type { Transact } from "./index.js";

interface ColumnPlace {
  table: string;
  id: string;
  column: string;
  /** Which rows still need their value: the others are emptied or spent. */
  inUse: RawBuilder<unknown>;
}

const PLACES: Record<SealedColumn, ColumnPlace> = {
  totp_secret: {
    table: "totp_factors",
    id: "user_id",
    column: "secret_ciphertext",
    inUse: sql`1 = 1`,
  },
  mail_payload: {
    table: "mail_outbox",
    id: "id",
    column: "payload",
    inUse: sql`sent_at is null and failed_at is null and payload <> ''`,
  },
  webhook_secret: {
    table: "webhook_endpoints",
    id: "id",
    column: "secret_sealed",
    inUse: sql`1 = 1`,
  },
  backup_code: {
    table: "backup_codes",
    id: "id",
    column: "code_hash",
    inUse: sql`used_at is null`,
  },
};

/** Finds and re-seals values by the key they name (`v2.<8 hex>.…`), the same SQL on both engines. */
export class KyselySealed implements SealedStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly transact: Transact,
  ) {}

  async countByKey(column: SealedColumn): Promise<Map<string, number>> {
    const place = PLACES[column];
    const value = sql.ref(place.column);
    const keyId = sql`case when ${value} like 'v2.%' then substr(${value}, 4, 8) else '' end`;
    const result = await sql<{ key_id: string; n: number | string }>`
      select ${keyId} as key_id, count(*) as n
        from ${sql.table(place.table)}
       where ${place.inUse}
       group by ${keyId}`.execute(this.db);
    return new Map(result.rows.map((row) => [row.key_id, Number(row.n)]));
  }

  async notUnder(
    column: ResealableColumn,
    keyId: string,
    after: string,
    limit: number,
  ): Promise<SealedValue[]> {
    const place = PLACES[column];
    const id = sql.ref(place.id);
    const value = sql.ref(place.column);
    const result = await sql<SealedValue>`
      select ${id} as id, ${value} as value
        from ${sql.table(place.table)}
       where ${place.inUse} and ${value} not like ${`v2.${keyId}.%`} and ${id} > ${after}
       order by ${id}
       limit ${limit}`.execute(this.db);
    return result.rows;
  }

  replace(column: ResealableColumn, changes: readonly SealedChange[]): Promise<number> {
    const place = PLACES[column];
    return this.transact(async (trx) => {
      let written = 0;
      for (const change of changes) {
        const result = await sql`
          update ${sql.table(place.table)}
             set ${sql.ref(place.column)} = ${change.to}
           where ${sql.ref(place.id)} = ${change.id} and ${sql.ref(place.column)} = ${change.from}
             and ${place.inUse}`.execute(trx);
        written += Number(result.numAffectedRows ?? 0);
      }
      return written;
    });
  }
}
