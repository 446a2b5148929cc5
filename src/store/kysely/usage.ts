import { CompiledQuery, sql, type Kysely } from "kysely";
import type {
  ActivityRow,
  CreditsWriteBack,
  Engine,
  StoredActivity,
  UsageBatch,
  UsageBucketRow,
  UsageStore,
  UsageSummary,
} from "../port.js";
import type { Database } from "../schema.js";
import {
  POSTGRES_FLUSH_SQL,
  SQLITE_FLUSH_SQL,
  postgresFlushParams,
  sqliteFlushSteps,
} from "../usage-sql.js";
import type { Transact } from "./index.js";

export class KyselyUsage implements UsageStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly engine: Engine,
    private readonly transact: Transact,
  ) {}

  /** One `UPDATE … FROM (VALUES …)` per 500 balances (SQLite ≥ 3.33 and PostgreSQL alike). */
  async writeCredits(rows: CreditsWriteBack[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      const values = sql.join(
        chunk.map(
          (r) =>
            sql`(${r.pool}, cast(${r.gen} as integer), cast(${r.remaining} as bigint), cast(${r.period} as bigint))`,
        ),
      );
      // Parameters in VALUES are untyped on PostgreSQL: each is cast (SQLite takes the same).
      await sql`update api_keys set credits_remaining = v.remaining, credits_period = v.period
        from (select column1 as pool, column2 as gen, column3 as remaining, column4 as period
              from (values ${values}) as t) as v
        where api_keys.credits_pool = v.pool and api_keys.credits_gen = v.gen`.execute(this.db);
    }
  }

  async flush(batch: UsageBatch): Promise<Map<string, number>> {
    if (this.engine === "postgres") {
      if (batch.calls.length === 0 && batch.buckets.length === 0 && batch.activity.length === 0)
        return new Map();
      // One statement: one round trip, atomic by itself (or part of the caller's transaction).
      const { rows } = await this.db.executeQuery<{ key_id: string; n: number }>(
        CompiledQuery.raw(POSTGRES_FLUSH_SQL, postgresFlushParams(batch)),
      );
      return new Map(rows.map((r) => [r.key_id, Number(r.n)]));
    }
    const steps = sqliteFlushSteps(batch);
    if (steps.length === 0) return new Map();
    return this.transact(async (trx) => {
      const stored = new Map<string, number>();
      for (const [name, params] of steps) {
        const { rows } = await trx.executeQuery<{ key_id: string; n: number }>(
          CompiledQuery.raw(SQLITE_FLUSH_SQL[name], params),
        );
        if (name === "stored") for (const r of rows) stored.set(r.key_id, Number(r.n));
      }
      return stored;
    });
  }

  async sampled(keyId: string): Promise<number> {
    const row = await this.db
      .selectFrom("key_activity_sampled")
      .select("count")
      .where("key_id", "=", keyId)
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  async addCalls(keyId: string, count: number, last: number): Promise<void> {
    await this.db
      .updateTable("api_keys")
      .set({
        usage_count: sql`usage_count + ${count}`,
        last_used_at: sql`case when last_used_at is null or last_used_at < ${last} then ${last} else last_used_at end`,
      })
      .where("id", "=", keyId)
      .execute();
  }

  async addBuckets(rows: UsageBucketRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db
      .insertInto("key_usage")
      .values(rows)
      .onConflict((oc) =>
        oc
          .columns(["key_id", "hour", "endpoint", "project_id"])
          .doUpdateSet({ count: sql`key_usage.count + excluded.count` }),
      )
      .execute();
  }

  async addActivity(rows: ActivityRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.insertInto("key_activity").values(rows).execute();
  }

  async countActivity(keyId: string): Promise<number> {
    const row = await this.db
      .selectFrom("key_activity")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("key_id", "=", keyId)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async pruneActivity(keyId: string, keep: number): Promise<void> {
    const cutoff = await this.db
      .selectFrom("key_activity")
      .select("id")
      .where("key_id", "=", keyId)
      .orderBy("id", "desc")
      .limit(1)
      .offset(keep)
      .executeTakeFirst();
    if (!cutoff) return;
    await this.db
      .deleteFrom("key_activity")
      .where("key_id", "=", keyId)
      .where("id", "<=", cutoff.id)
      .execute();
  }

  async summary(keyId: string, sinceHour: number): Promise<UsageSummary> {
    const [byEndpoint, byProject, byHour] = await Promise.all([
      this.db
        .selectFrom("key_usage")
        .select((eb) => ["endpoint", eb.fn.sum<number>("count").as("count")])
        .where("key_id", "=", keyId)
        .groupBy("endpoint")
        .orderBy("count", "desc")
        .execute(),
      this.db
        .selectFrom("key_usage")
        .select((eb) => ["project_id", eb.fn.sum<number>("count").as("count")])
        .where("key_id", "=", keyId)
        .groupBy("project_id")
        .orderBy("count", "desc")
        .execute(),
      this.db
        .selectFrom("key_usage")
        .select((eb) => ["hour", eb.fn.sum<number>("count").as("count")])
        .where("key_id", "=", keyId)
        .where("hour", ">=", sinceHour)
        .groupBy("hour")
        .orderBy("hour", "asc")
        .execute(),
    ]);
    return {
      byEndpoint: byEndpoint.map((r) => ({ endpoint: r.endpoint, count: Number(r.count) })),
      byProject: byProject.map((r) => ({ project_id: r.project_id, count: Number(r.count) })),
      byHour: byHour.map((r) => ({ hour: Number(r.hour), count: Number(r.count) })),
    };
  }

  async activity(
    keyId: string,
    options: { limit: number; before?: number | undefined },
  ): Promise<StoredActivity[]> {
    let query = this.db
      .selectFrom("key_activity")
      .selectAll()
      .where("key_id", "=", keyId)
      .orderBy("id", "desc")
      .limit(options.limit);
    if (options.before !== undefined) query = query.where("id", "<", options.before);
    const rows = await query.execute();
    return rows.map((row) => ({ ...row, id: Number(row.id) }));
  }
}
