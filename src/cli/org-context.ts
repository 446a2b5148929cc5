/**
 * The organization the CLI acts in (`latchkey org switch`), kept beside the credentials for
 * the server it was chosen on, and the `--org` / `--personal` options that override it.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { OrgT } from "../api/orgs.js";
import type { Cli } from "./context.js";
import { CliError, EXIT } from "./exit.js";

export interface CurrentOrg {
  api_url: string;
  org_id: string;
  name: string;
}

export interface OrgOptions {
  org?: string;
  personal?: boolean;
}

function fileOf(cli: Cli): string {
  return join(cli.store.dir, "org.json");
}

/** The switched-to organization for this server, or null (the personal space). */
export function currentOrg(cli: Cli): CurrentOrg | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(fileOf(cli), "utf8"));
  } catch {
    return null;
  }
  const v = parsed as Partial<CurrentOrg> | null;
  if (!v || typeof v.org_id !== "string" || typeof v.name !== "string") return null;
  return v.api_url === cli.apiUrl ? (v as CurrentOrg) : null;
}

export function saveCurrentOrg(cli: Cli, org: { id: string; name: string }): void {
  mkdirSync(cli.store.dir, { recursive: true, mode: 0o700 });
  const file = fileOf(cli);
  writeFileSync(
    file,
    JSON.stringify({ api_url: cli.apiUrl, org_id: org.id, name: org.name }) + "\n",
    {
      mode: 0o600,
    },
  );
  chmodSync(file, 0o600);
}

export function clearCurrentOrg(cli: Cli): void {
  rmSync(fileOf(cli), { force: true });
}

/** `--org ORG` (id or name) and `--personal`, on commands that act in a space. */
export function withOrgOptions(command: Command): Command {
  return command
    .option("--org <org>", "act in this organization (id or name); default: the switched one")
    .option("--personal", "act in your personal space, whatever organization is switched to");
}

/** An organization of the caller's by id or (exact, then case-insensitive) name. */
export async function findOrg(cli: Cli, wanted: string): Promise<OrgT> {
  const { orgs } = await cli.api.get<{ orgs: OrgT[] }>("/v1/orgs");
  const found = orgs.find((o) => o.id === wanted) ?? orgs.find((o) => o.name === wanted);
  if (found) return found;
  const named = orgs.filter((o) => o.name.toLowerCase() === wanted.toLowerCase());
  if (named.length === 1) return named[0]!;
  if (named.length > 1)
    throw new CliError(`more than one organization is named ${wanted}`, EXIT.usage, [
      "name it by id (`latchkey org list` shows them)",
    ]);
  throw new CliError(`no organization ${wanted} among yours`, EXIT.failure, [
    "`latchkey org list` shows your organizations",
  ]);
}

/**
 * Sets the space the command's requests act in: `--personal`, else `--org`, else the switched
 * organization. Returns it (null: personal).
 */
export async function applyOrg(cli: Cli, options: OrgOptions): Promise<OrgT | CurrentOrg | null> {
  if (options.personal && options.org !== undefined)
    throw new CliError("--org and --personal go alone", EXIT.usage);
  if (options.personal) {
    cli.api.org = null;
    return null;
  }
  if (options.org !== undefined) {
    const org = await findOrg(cli, options.org);
    cli.api.org = org.id;
    return org;
  }
  const current = currentOrg(cli);
  cli.api.org = current?.org_id ?? null;
  return current;
}

/** The organization a command names, else the switched one; a usage error when neither. */
export async function orgArgument(cli: Cli, given: string | undefined): Promise<OrgT> {
  if (given !== undefined) return findOrg(cli, given);
  const current = currentOrg(cli);
  if (current) return findOrg(cli, current.org_id);
  throw new CliError("name the organization, or switch to one first", EXIT.usage, [
    "`latchkey org switch ORG`, or give ORG (`latchkey org list` shows yours)",
  ]);
}
