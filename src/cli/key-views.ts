/** How API keys read in the terminal: the list table, one key's fields, the one-time secret. */
import type { KeyCreatedT, KeyDetailsT, KeyRecordFullT, KeyRecordT } from "../api/keys.js";
import { calendarDate, count, fields, relativeTime, table, wrap, type Style } from "./output.js";
import { limitFields } from "./key-limits.js";

/** The wire types (src/api): a key as listed, with its usage, and the one answer with the secret. */
export type KeyRecord = KeyRecordT;
export type KeyDetails = KeyDetailsT;
export type CreatedKey = KeyCreatedT;
export type RevokedKey = KeyRecordFullT;

export function paintStatus(status: string, s: Style): string {
  if (status === "active") return s.green(status);
  if (status === "revoked") return s.red(status);
  return s.yellow(status);
}

/** The status a person reads: an active key its owner disabled reads "disabled". */
export function shownStatus(k: Pick<KeyRecord, "status" | "enabled">): string {
  return k.status === "active" && k.enabled === false ? "disabled" : k.status;
}

function when(at: string | null, never: string, now: number): string {
  return at === null ? never : relativeTime(at, now);
}

/** At most `width` characters of scopes, then "+N" for the rest. */
export function scopeSummary(scopes: readonly string[], width = 36): string {
  let shown = "";
  for (let i = 0; i < scopes.length; i++) {
    const next = shown ? `${shown},${scopes[i]}` : scopes[i]!;
    const rest = scopes.length - i - 1;
    if (next.length + (rest > 0 ? ` +${rest}`.length : 0) > width && shown)
      return `${shown} +${scopes.length - i}`;
    shown = next;
  }
  return shown;
}

export function keyTable(keys: readonly KeyRecord[], s: Style, now = Date.now()): string {
  if (keys.length === 0)
    return "No API keys yet. Create one with `latchkey token create NAME --scope S`.\n";
  const columns = [
    { header: "ID" },
    { header: "NAME" },
    { header: "PREFIX" },
    { header: "ENV" },
    { header: "SCOPES" },
    { header: "LAST USED" },
    { header: "USAGE", align: "right" as const },
    { header: "EXPIRES" },
    { header: "STATUS" },
  ];
  const rows = keys.map((k) => [
    k.id,
    k.name,
    `${k.prefix}…`,
    k.environment,
    scopeSummary(k.scopes),
    when(k.last_used_at, "never", now),
    count(k.usage_count),
    when(k.expires_at, "never", now),
    paintStatus(shownStatus(k), s),
  ]);
  return table(columns, rows, s);
}

export function keyFields(k: KeyRecord, s: Style, now = Date.now()): string {
  const dated = (at: string | null, never: string | null) =>
    at === null ? never : `${calendarDate(at)} (${relativeTime(at, now)})`;
  return fields(
    [
      ["ID", s.bold(k.id)],
      ["Name", k.name],
      ...(k.description ? [["Description", k.description] as [string, string]] : []),
      ["Prefix", `${k.prefix}…`],
      ["Environment", k.environment],
      ["Scopes", wrap(k.scopes, 64)],
      ["Project", k.project_id ?? "all projects"],
      ["Status", paintStatus(shownStatus(k), s)],
      ...(k.disabled_at ? [["Disabled", dated(k.disabled_at, null)] as [string, string]] : []),
      ["Created", dated(k.created_at, null)],
      ["Expires", dated(k.expires_at, "never")],
      ["Revoked", dated(k.revoked_at, null)],
      ["Last used", dated(k.last_used_at, "never")],
      ["Usage", `${count(k.usage_count)} calls`],
      ...(k.meta ? [["Meta", JSON.stringify(k.meta)] as [string, string]] : []),
      ...limitFields(k),
    ],
    s,
  );
}

/** The one-time secret, framed so it cannot be missed, and the warning that goes with it. */
export function renderSecret(created: CreatedKey, s: Style): string {
  return (
    `\n  ${s.bold(created.key)}\n\n` +
    `${s.yellow("This secret is shown only once.")} Copy it now into your secret store; ` +
    `Latchkey keeps only a hash and cannot show it again.\n`
  );
}

export function expiryNote(k: KeyRecord): string {
  return k.expires_at ? `expires ${relativeTime(k.expires_at)}` : "does not expire";
}

export function tallyTable<T extends { count: number }>(
  title: string,
  column: string,
  label: (t: T) => string,
  tallies: readonly T[] | undefined,
  s: Style,
): string {
  if (!tallies || tallies.length === 0) return "";
  const rows = tallies.map((t) => [label(t), count(t.count)]);
  return (
    `\n${s.bold(title)}\n` +
    table([{ header: column }, { header: "CALLS", align: "right" }], rows, s)
  );
}
