import { Command } from "commander";
import type { AuditEntryT, AuditListT } from "../api/schemas.js";
import { contextOf, withCommonOptions, type CommonOptions } from "./context.js";
import { usageError } from "./exit.js";
import { table, type Style } from "./output.js";

interface AuditOptions extends CommonOptions {
  event?: string;
  mine?: boolean;
}

interface ListOptions extends AuditOptions {
  limit?: string;
  before?: string;
}

/** A page's query: the event filter, and `all=false` for staff who want only their own. */
function queryOf(options: AuditOptions, page: Record<string, string>): string {
  const query = new URLSearchParams(page);
  if (options.event !== undefined) query.set("event", options.event);
  if (options.mine) query.set("all", "false");
  return `/v1/audit-log?${query}`;
}

function positive(text: string | undefined, flag: string): string | undefined {
  if (text !== undefined && !/^[1-9]\d*$/.test(text))
    throw usageError(`${flag} must be a positive whole number`);
  return text;
}

function auditTable(events: readonly AuditEntryT[], s: Style): string {
  if (events.length === 0) return "No events.\n";
  return table(
    [
      { header: "ID" },
      { header: "AT" },
      { header: "EVENT" },
      { header: "ACTOR" },
      { header: "IP" },
    ],
    events.map((e) => [String(e.id), e.at, e.event, e.actor ?? "", e.ip ?? ""]),
    s,
  );
}

async function list(options: ListOptions): Promise<void> {
  const page: Record<string, string> = {};
  const limit = positive(options.limit, "--limit");
  const before = positive(options.before, "--before");
  if (limit !== undefined) page.limit = limit;
  if (before !== undefined) page.before = before;
  const cli = contextOf(options);
  const reply = await cli.api.get<AuditListT>(queryOf(options, page));
  cli.out.result(reply, (s) => {
    const more = reply.next_before === null ? "" : `More: --before ${reply.next_before}\n`;
    return auditTable(reply.events, s) + more;
  });
}

/** Every event, newest first, one JSON object per line (as `GET /v1/audit-log?format=ndjson`). */
async function exportAll(options: AuditOptions): Promise<void> {
  const cli = contextOf(options);
  let before: number | null = null;
  do {
    const page: Record<string, string> = { limit: "500" };
    if (before !== null) page.before = String(before);
    const reply: AuditListT = await cli.api.get<AuditListT>(queryOf(options, page));
    cli.out.data(reply.events.map((entry) => `${JSON.stringify(entry)}\n`).join(""));
    before = reply.next_before;
  } while (before !== null);
}

export function auditCommand(): Command {
  const audit = new Command("audit").description(
    "your account's audit log (staff: everyone's); entries are never edited or deleted",
  );
  const filters = (command: Command) =>
    withCommonOptions(
      command
        .option("--event <name>", "only this event (e.g. login_failed, key_revoked)")
        .option("--mine", "staff: only your own events, not everyone's"),
    );
  audit.addCommand(
    filters(
      new Command("list")
        .description("the newest events, a page at a time")
        .option("--limit <n>", "events per page (1-500, default 100)")
        .option("--before <id>", "the page after this event id (from the previous page)"),
    ).action(list),
  );
  audit.addCommand(
    filters(
      new Command("export").description(
        "every event, newest first, as NDJSON on stdout (one JSON object per line)",
      ),
    ).action(exportAll),
  );
  return audit;
}
