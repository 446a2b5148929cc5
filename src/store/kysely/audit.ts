import type { Kysely } from "kysely";
import type { AuditRow, AuditStore, StoredAudit } from "../port.js";
import type { Database } from "../schema.js";

export class KyselyAudit implements AuditStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: AuditRow): Promise<void> {
    await this.db.insertInto("audit_log").values(row).execute();
  }

  async list(options: {
    userId: string | null;
    limit: number;
    before?: number | undefined;
    event?: string | undefined;
    orgId?: string | undefined;
  }): Promise<StoredAudit[]> {
    let query = this.db
      .selectFrom("audit_log")
      .selectAll()
      .orderBy("id", "desc")
      .limit(options.limit);
    if (options.userId !== null) query = query.where("user_id", "=", options.userId);
    if (options.before !== undefined) query = query.where("id", "<", options.before);
    if (options.event !== undefined) query = query.where("event", "=", options.event);
    if (options.orgId !== undefined) query = query.where("org_id", "=", options.orgId);
    const rows = await query.execute();
    return rows.map((row) => ({ ...row, id: Number(row.id) }));
  }
}
