import type { Activity, ApiKey, Count, KeyUsage, Project } from "./types.js";

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function time(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number") return new Date(value).toISOString();
  return null;
}

function firstArray(body: Json, names: string[]): unknown[] {
  for (const name of names) if (Array.isArray(body[name])) return body[name] as unknown[];
  return [];
}

export function toKey(raw: unknown): ApiKey {
  const k = isObject(raw) && isObject(raw.api_key) ? raw.api_key : ((raw ?? {}) as Json);
  const revoked = time(k.revoked_at);
  const expires = time(k.expires_at);
  const status =
    k.status === "active" || k.status === "expired" || k.status === "revoked"
      ? k.status
      : revoked
        ? "revoked"
        : expires && Date.parse(expires) <= Date.now()
          ? "expired"
          : "active";
  return {
    id: String(k.id ?? ""),
    name: String(k.name ?? ""),
    prefix: String(k.prefix ?? ""),
    environment: k.environment === "test" ? "test" : "live",
    scopes: Array.isArray(k.scopes) ? k.scopes.map(String) : [],
    project_id: typeof k.project_id === "string" ? k.project_id : null,
    created_at: time(k.created_at) ?? new Date(0).toISOString(),
    expires_at: expires,
    last_used_at: time(k.last_used_at),
    usage_count: typeof k.usage_count === "number" ? k.usage_count : 0,
    revoked_at: revoked,
    status,
  };
}

export function toKeyList(body: Json): ApiKey[] {
  return firstArray(body, ["api_keys", "keys", "data", "items"]).map(toKey);
}

/** Counts given as `[{endpoint, count}]`, `[{key, calls}]` or `{label: count}`. */
function toCounts(raw: unknown, labelNames: string[], none = "—"): Count[] {
  const list: Count[] = [];
  if (Array.isArray(raw)) {
    for (const item of raw) {
      if (!isObject(item)) continue;
      const label = labelNames.map((n) => item[n]).find((v) => v !== undefined);
      const count = item.count ?? item.calls ?? item.total ?? 0;
      list.push({ label: label == null ? none : String(label), count: Number(count) || 0 });
    }
  } else if (isObject(raw)) {
    for (const [label, count] of Object.entries(raw))
      list.push({ label, count: Number(count) || 0 });
  }
  return list.sort((a, b) => b.count - a.count);
}

export function toUsage(body: Json): KeyUsage {
  const usage = isObject(body.usage) ? body.usage : body;
  const pick = (...names: string[]) => names.map((n) => usage[n]).find((v) => v !== undefined);
  const hours = toCounts(pick("by_hour", "hourly", "calls_by_hour"), [
    "hour",
    "at",
    "time",
    "start",
  ]);
  return {
    byEndpoint: toCounts(pick("by_endpoint", "endpoints", "calls_by_endpoint"), [
      "endpoint",
      "key",
      "name",
    ]),
    byProject: toCounts(
      pick("by_project", "projects", "calls_by_project"),
      ["project_id", "project", "key", "name"],
      "No project",
    ),
    byHour: hours
      .map((h) => ({
        hour: Number.isNaN(Number(h.label)) ? Date.parse(h.label) : Number(h.label),
        count: h.count,
      }))
      .filter((h) => Number.isFinite(h.hour))
      .sort((a, b) => a.hour - b.hour),
  };
}

export function toActivity(body: Json): Activity[] {
  return firstArray(body, ["activity", "events", "calls", "data", "items"])
    .filter(isObject)
    .map((a) => ({
      at: time(a.at ?? a.time ?? a.created_at) ?? "",
      endpoint: String(a.endpoint ?? ""),
      ip: typeof a.ip === "string" ? a.ip : null,
      outcome: String(a.outcome ?? a.status ?? a.result ?? ""),
    }));
}

export function toProjects(body: Json): Project[] {
  return firstArray(body, ["projects", "data", "items"])
    .filter(isObject)
    .map((p) => ({ id: String(p.id), name: String(p.name ?? p.id) }));
}
