import { Command, Option } from "commander";
import { contextOf, withCommonOptions, type Cli, type CommonOptions } from "./context.js";
import { usageError } from "./exit.js";
import { calendarDate, count, fields, relativeTime, table, wrap, type Style } from "./output.js";
import { confirm, isInteractive } from "./prompt.js";

/** An API key's record as the server lists it (SPEC §4) — never the secret. */
export interface KeyRecord {
  id: string;
  name: string;
  prefix: string;
  environment: "live" | "test";
  scopes: string[];
  project_id: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  usage_count: number;
  revoked_at: string | null;
  status: "active" | "expired" | "revoked";
}

/** Create and rotate answer the record plus the secret, shown this once. */
export type CreatedKey = KeyRecord & { key: string };

export interface Tally {
  count: number;
  [label: string]: unknown;
}

export interface KeyDetails extends KeyRecord {
  usage?: {
    by_endpoint?: Tally[];
    by_project?: Tally[];
    by_hour?: Tally[];
  };
}

/** Revoke's answer: the record, now revoked. */
export interface RevokedKey extends KeyRecord {
  rotated_from?: string | null;
}

const path = (id: string) => `/v1/api-keys/${encodeURIComponent(id)}`;

function collectScopes(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(/[\s,]+/).filter(Boolean)];
}

function paintStatus(status: string, s: Style): string {
  if (status === "active") return s.green(status);
  if (status === "revoked") return s.red(status);
  return s.yellow(status);
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
    paintStatus(k.status, s),
  ]);
  return table(columns, rows, s);
}

function keyFields(k: KeyRecord, s: Style, now = Date.now()): string {
  const dated = (at: string | null, never: string | null) =>
    at === null ? never : `${calendarDate(at)} (${relativeTime(at, now)})`;
  return fields(
    [
      ["ID", s.bold(k.id)],
      ["Name", k.name],
      ["Prefix", `${k.prefix}…`],
      ["Environment", k.environment],
      ["Scopes", wrap(k.scopes, 64)],
      ["Project", k.project_id ?? "all projects"],
      ["Status", paintStatus(k.status, s)],
      ["Created", dated(k.created_at, null)],
      ["Expires", dated(k.expires_at, "never")],
      ["Revoked", dated(k.revoked_at, null)],
      ["Last used", dated(k.last_used_at, "never")],
      ["Usage", `${count(k.usage_count)} calls`],
    ],
    s,
  );
}

/** The one-time secret, framed so it cannot be missed, and the warning that goes with it. */
function renderSecret(created: CreatedKey, s: Style): string {
  return (
    `\n  ${s.bold(created.key)}\n\n` +
    `${s.yellow("This secret is shown only once.")} Copy it now into your secret store; ` +
    `Latchkey keeps only a hash and cannot show it again.\n`
  );
}

function expiryNote(k: KeyRecord): string {
  return k.expires_at ? `expires ${relativeTime(k.expires_at)}` : "does not expire";
}

interface CreateOptions extends CommonOptions {
  scope: string[];
  env?: "live" | "test";
  expires?: string;
  project?: string;
}

async function create(name: string, options: CreateOptions): Promise<void> {
  const cli = contextOf(options);
  const body: Record<string, unknown> = { name, scopes: options.scope };
  if (options.env) body.environment = options.env;
  if (options.expires) body.expires_in = options.expires;
  if (options.project) body.project_id = options.project;
  const created = await cli.api.post<CreatedKey>("/v1/api-keys", body);
  cli.out.result(
    created,
    (s) =>
      `${s.green("✓")} Created ${created.environment} key ${s.bold(created.id)} "${created.name}" ` +
      `with ${created.scopes.join(", ")}; it ${expiryNote(created)}.\n` +
      renderSecret(created, s),
  );
}

async function list(options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const reply = await cli.api.get<{ api_keys: KeyRecord[] }>("/v1/api-keys");
  cli.out.result(reply, (s) => keyTable(reply.api_keys, s));
}

function tallyTable(
  title: string,
  column: string,
  label: (t: Tally) => string,
  tallies: Tally[] | undefined,
  s: Style,
): string {
  if (!tallies || tallies.length === 0) return "";
  const rows = tallies.map((t) => [label(t), count(t.count)]);
  return (
    `\n${s.bold(title)}\n` +
    table([{ header: column }, { header: "CALLS", align: "right" }], rows, s)
  );
}

async function show(id: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const key = await cli.api.get<KeyDetails>(path(id));
  cli.out.result(key, (s) => {
    const usage = key.usage ?? {};
    return (
      keyFields(key, s) +
      tallyTable("Usage by endpoint", "ENDPOINT", (t) => String(t.endpoint), usage.by_endpoint, s) +
      tallyTable(
        "Usage by project",
        "PROJECT",
        (t) => (typeof t.project_id === "string" ? t.project_id : "(no project)"),
        usage.by_project,
        s,
      )
    );
  });
}

interface RevokeOptions extends CommonOptions {
  yes?: boolean;
}

async function revoke(id: string, options: RevokeOptions): Promise<void> {
  const cli = contextOf(options);
  if (!options.yes) {
    if (!isInteractive())
      throw usageError(
        `not revoking ${id} without confirmation`,
        "pass --yes to revoke from a script",
      );
    const sure = await confirm(
      `Revoke API key ${id}? Every request with it fails from now on; this cannot be undone.`,
    );
    if (!sure) {
      cli.out.result({ id, revoked: false }, () => "Not revoked.\n");
      return;
    }
  }
  const reply = await cli.api.delete<RevokedKey>(path(id));
  cli.out.result(
    reply,
    (s) => `${s.green("✓")} Revoked ${s.bold(id)}: it no longer works, anywhere.\n`,
  );
}

interface RotateOptions extends CommonOptions {
  expireOldIn?: string;
}

async function rotate(id: string, options: RotateOptions): Promise<void> {
  const cli = contextOf(options);
  const body = options.expireOldIn ? { expire_old_in: options.expireOldIn } : {};
  const created = await cli.api.post<CreatedKey>(`${path(id)}/rotate`, body);
  cli.out.result(created, (s) => {
    const overlap = options.expireOldIn
      ? `keeps working for ${options.expireOldIn}, then expires`
      : `keeps working until you revoke it: \`latchkey token revoke ${id}\``;
    return (
      `${s.green("✓")} New key ${s.bold(created.id)} "${created.name}" replaces ${id}, ` +
      `same scopes and environment; it ${expiryNote(created)}.\n` +
      `The old key ${overlap}.\n` +
      renderSecret(created, s)
    );
  });
}

interface EditOptions extends CommonOptions {
  name?: string;
  scope?: string[];
}

async function edit(id: string, options: EditOptions): Promise<void> {
  const body: Record<string, unknown> = {};
  if (options.name !== undefined) body.name = options.name;
  if (options.scope !== undefined) body.scopes = options.scope;
  if (Object.keys(body).length === 0)
    throw usageError(
      "nothing to change",
      "pass --name N and/or --scope S (scopes may only narrow)",
    );
  const cli: Cli = contextOf(options);
  const key = await cli.api.patch<KeyRecord>(path(id), body);
  cli.out.result(key, (s) => `${s.green("✓")} Updated ${s.bold(key.id)}.\n\n${keyFields(key, s)}`);
}

const SCOPE_HELP = "a scope, e.g. services:read (repeat, or separate with commas)";

export function tokenCommand(): Command {
  const token = new Command("token").description("scoped API keys for CI, scripts and services");
  token.addCommand(
    withCommonOptions(
      new Command("create")
        .description("create an API key; its secret is printed this once")
        .argument("<name>", "what the key is for, e.g. ci-deploy")
        .requiredOption("--scope <scope>", SCOPE_HELP, collectScopes)
        .addOption(new Option("--env <environment>", "key environment").choices(["live", "test"]))
        .option("--expires <duration>", "lifetime, e.g. 30d, 90d, 24h, 1y (default: never)")
        .option("--project <id>", "restrict the key to one project"),
    ).action(create),
  );
  token.addCommand(
    withCommonOptions(
      new Command("list").description("your API keys, without their secrets"),
    ).action(list),
  );
  token.addCommand(
    withCommonOptions(
      new Command("show")
        .description("one key's details and usage by endpoint and project")
        .argument("<id>", "key id (key_…)"),
    ).action(show),
  );
  token.addCommand(
    withCommonOptions(
      new Command("revoke")
        .description("revoke a key at once (asks to confirm on a terminal)")
        .argument("<id>", "key id (key_…)")
        .option("-y, --yes", "do not ask; required when not on a terminal"),
    ).action(revoke),
  );
  token.addCommand(
    withCommonOptions(
      new Command("rotate")
        .description(
          "a new key with the same name, scopes and environment; the old one keeps working",
        )
        .argument("<id>", "key id (key_…)")
        .option("--expire-old-in <duration>", "let the old key expire after this long, e.g. 24h"),
    ).action(rotate),
  );
  token.addCommand(
    withCommonOptions(
      new Command("edit")
        .description("rename a key or narrow its scopes")
        .argument("<id>", "key id (key_…)")
        .option("--name <name>", "new name")
        .option("--scope <scope>", `${SCOPE_HELP}; the new set must be narrower`, collectScopes),
    ).action(edit),
  );
  return token;
}
