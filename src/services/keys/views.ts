import type { KeyActivityEntryT, KeyRecordFullT, KeyRecordT, KeyUsageT } from "../../api/keys.js";
import type { ApiKeysTable } from "../../store/schema.js";
import type { Context } from "../context.js";

const HOUR = 3_600_000;
/** Hourly usage shown in key details: the last seven days. */
const BY_HOUR_SPAN_MS = 7 * 24 * HOUR;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function keyStatus(row: ApiKeysTable, now: number): KeyRecordT["status"] {
  if (row.revoked_at !== null && row.revoked_at <= now) return "revoked";
  if (row.expires_at !== null && row.expires_at <= now) return "expired";
  return "active";
}

/** The listed fields of SPEC §4, plus status. Never the secret or its hash. */
export function toRecord(row: ApiKeysTable, now: number): KeyRecordT {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    environment: row.environment === "test" ? "test" : "live",
    scopes: JSON.parse(row.scopes) as string[],
    project_id: row.project_id,
    created_at: iso(row.created_at)!,
    expires_at: iso(row.expires_at),
    last_used_at: iso(row.last_used_at),
    usage_count: Number(row.usage_count),
    revoked_at: iso(row.revoked_at),
    status: keyStatus(row, now),
  };
}

export function toFullRecord(row: ApiKeysTable, now: number): KeyRecordFullT {
  return {
    ...toRecord(row, now),
    ip_allow: row.ip_allow ? (JSON.parse(row.ip_allow) as string[]) : null,
    rotated_from: row.rotated_from,
    parent_key_id: row.parent_key_id,
  };
}

/** Calls by endpoint and by project (all time), and by hour (last seven days). */
export async function keyUsage(ctx: Context, keyId: string): Promise<KeyUsageT> {
  const since = Math.floor((ctx.now() - BY_HOUR_SPAN_MS) / HOUR) * HOUR;
  const [byEndpoint, byProject, byHour] = await Promise.all([
    ctx.db
      .selectFrom("key_usage")
      .select((eb) => ["endpoint", eb.fn.sum<number>("count").as("count")])
      .where("key_id", "=", keyId)
      .groupBy("endpoint")
      .orderBy("count", "desc")
      .execute(),
    ctx.db
      .selectFrom("key_usage")
      .select((eb) => ["project_id", eb.fn.sum<number>("count").as("count")])
      .where("key_id", "=", keyId)
      .groupBy("project_id")
      .orderBy("count", "desc")
      .execute(),
    ctx.db
      .selectFrom("key_usage")
      .select((eb) => ["hour", eb.fn.sum<number>("count").as("count")])
      .where("key_id", "=", keyId)
      .where("hour", ">=", since)
      .groupBy("hour")
      .orderBy("hour", "asc")
      .execute(),
  ]);
  return {
    by_endpoint: byEndpoint.map((r) => ({ endpoint: r.endpoint, count: Number(r.count) })),
    by_project: byProject.map((r) => ({
      project_id: r.project_id === "" ? null : r.project_id,
      count: Number(r.count),
    })),
    by_hour: byHour.map((r) => ({ hour: iso(Number(r.hour))!, count: Number(r.count) })),
  };
}

/** Newest first; `before` pages by activity id. */
export async function keyActivity(
  ctx: Context,
  keyId: string,
  options: { limit: number; before?: number | undefined },
): Promise<KeyActivityEntryT[]> {
  let query = ctx.db
    .selectFrom("key_activity")
    .selectAll()
    .where("key_id", "=", keyId)
    .orderBy("id", "desc")
    .limit(options.limit);
  if (options.before !== undefined) query = query.where("id", "<", options.before);
  const rows = await query.execute();
  return rows.map((row) => ({
    id: Number(row.id),
    at: iso(row.at)!,
    endpoint: row.endpoint,
    ip: row.ip,
    outcome: row.outcome,
    verified_by: row.verified_by,
  }));
}
