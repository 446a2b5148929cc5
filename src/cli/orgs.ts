/**
 * `latchkey org …` (SPEC §10): organizations, their members, invitations, policies and audit
 * log, and which one the CLI acts in (`org switch`; `--org` / `--personal` on token and
 * webhook commands). Deleting an organization and changing its policies need a recent sign-in
 * (step-up), as on the server.
 */
import { Command, Option } from "commander";
import type { InvitationT, MemberT, OrgPolicyT, OrgT } from "../api/orgs.js";
import type { AuditEntryT } from "../api/schemas.js";
import { ORG_ROLES } from "../core/org-roles.js";
import { contextOf, withCommonOptions, type CommonOptions } from "./context.js";
import { usageError } from "./exit.js";
import {
  clearCurrentOrg,
  currentOrg,
  findOrg,
  orgArgument,
  saveCurrentOrg,
} from "./org-context.js";
import { fields, relativeTime, table, type Style } from "./output.js";
import { confirm, isInteractive } from "./prompt.js";
import { enableStepUp, withStepUpOptions, type StepUpOptions } from "./step-up.js";

const orgPath = (id: string, tail = "") => `/v1/orgs/${encodeURIComponent(id)}${tail}`;

interface InOrg extends CommonOptions {
  org?: string;
}

const withOrg = (command: Command) =>
  command.option("--org <org>", "the organization (id or name); default: the switched one");

function orgTable(orgs: OrgT[], current: string | null, s: Style): string {
  if (orgs.length === 0)
    return "No organizations yet. Create one with `latchkey org create NAME`.\n";
  return table(
    [{ header: "" }, { header: "ID" }, { header: "NAME" }, { header: "ROLE" }, { header: "PLAN" }],
    orgs.map((o) => [o.id === current ? "*" : "", o.id, o.name, o.role ?? "-", o.plan]),
    s,
  );
}

function policyFields(policy: OrgPolicyT, s: Style): string {
  return fields(
    [
      ["Max key lifetime", policy.max_key_lifetime ?? "none"],
      ["Require 2FA", policy.require_2fa ? "yes" : "no"],
      ["Environments", policy.allowed_environments?.join(", ") ?? "live, test"],
      ["IP allowlist", policy.ip_allow?.join(", ") ?? "any address"],
      ["Allowed scopes", policy.allowed_scopes?.join(", ") ?? "every scope"],
    ],
    s,
  );
}

function orgFields(org: OrgT, s: Style): string {
  return (
    fields(
      [
        ["ID", org.id],
        ["Name", org.name],
        ["Your role", org.role ?? "-"],
        ["Plan", org.plan],
        ["Created", org.created_at],
      ],
      s,
    ) + policyFields(org.policy, s)
  );
}

function memberTable(members: MemberT[], s: Style): string {
  return table(
    [
      { header: "USER ID" },
      { header: "EMAIL" },
      { header: "ROLE" },
      { header: "2FA" },
      { header: "JOINED" },
    ],
    members.map((m) => [
      m.user_id,
      m.email,
      m.role,
      m.has_2fa ? "on" : "off",
      relativeTime(m.joined_at),
    ]),
    s,
  );
}

function invitationTable(invitations: InvitationT[], s: Style): string {
  if (invitations.length === 0) return "No pending invitations.\n";
  return table(
    [{ header: "ID" }, { header: "EMAIL" }, { header: "ROLE" }, { header: "EXPIRES" }],
    invitations.map((i) => [i.id, i.email, i.role, relativeTime(i.expires_at)]),
    s,
  );
}

function parseRole(value: string): string {
  if (!(ORG_ROLES as readonly string[]).includes(value))
    throw usageError(`unknown role: ${value}`, `one of: ${ORG_ROLES.join(", ")}`);
  return value;
}

async function list(options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const reply = await cli.api.get<{ orgs: OrgT[] }>("/v1/orgs");
  const current = currentOrg(cli)?.org_id ?? null;
  cli.out.result({ ...reply, current }, (s) => orgTable(reply.orgs, current, s));
}

async function create(name: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await cli.api.post<OrgT>("/v1/orgs", { name });
  cli.out.result(
    org,
    (s) =>
      `${s.green("✓")} Created organization ${s.bold(org.name)} (${org.id}); you are its owner.\n` +
      `Act in it with \`latchkey org switch ${org.id}\`; invite with \`latchkey org invite EMAIL --org ${org.id}\`.\n`,
  );
}

async function show(given: string | undefined, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, given);
  cli.out.result(org, (s) => orgFields(org, s));
}

async function rename(given: string, name: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await findOrg(cli, given);
  const renamed = await cli.api.patch<OrgT>(orgPath(org.id), { name });
  if (currentOrg(cli)?.org_id === org.id) saveCurrentOrg(cli, renamed);
  cli.out.result(renamed, (s) => `${s.green("✓")} Renamed ${org.id} to ${s.bold(renamed.name)}.\n`);
}

interface DeleteOptions extends CommonOptions, StepUpOptions {
  revokeKeys?: boolean;
  yes?: boolean;
}

async function remove(given: string, options: DeleteOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await findOrg(cli, given);
  if (!options.yes) {
    if (!isInteractive())
      throw usageError(`not deleting ${org.name} without confirmation`, "pass --yes from a script");
    const what = options.revokeKeys ? " and revoke every key it owns" : "";
    if (!(await confirm(`Delete the organization ${org.name} (${org.id})${what}?`))) {
      cli.out.result({ id: org.id, deleted: false }, () => "Not deleted.\n");
      return;
    }
  }
  enableStepUp(cli, options);
  const query = options.revokeKeys ? "?revoke_keys=true" : "";
  const reply = await cli.api.delete<{ deleted: true; keys_revoked: number }>(
    orgPath(org.id) + query,
  );
  if (currentOrg(cli)?.org_id === org.id) clearCurrentOrg(cli);
  cli.out.result(
    reply,
    (s) =>
      `${s.green("✓")} Deleted ${s.bold(org.name)}` +
      (reply.keys_revoked > 0 ? `; revoked ${reply.keys_revoked} key(s).\n` : ".\n"),
  );
}

interface SwitchOptions extends CommonOptions {
  personal?: boolean;
}

async function switchTo(given: string | undefined, options: SwitchOptions): Promise<void> {
  const cli = contextOf(options);
  if (options.personal || given === undefined) {
    if (given !== undefined) throw usageError("give ORG or --personal, not both");
    if (!options.personal)
      throw usageError("name the organization to switch to", "or --personal for your own space");
    clearCurrentOrg(cli);
    cli.out.result({ org: null }, () => "Now acting in your personal space.\n");
    return;
  }
  const org = await findOrg(cli, given);
  saveCurrentOrg(cli, org);
  cli.out.result(
    { org },
    (s) =>
      `Now acting in ${s.bold(org.name)} (${org.id}) as ${org.role ?? "its key"}: ` +
      "`latchkey token …` and `latchkey webhook …` use it. Back with `latchkey org switch --personal`.\n",
  );
}

async function members(given: string | undefined, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, given);
  const reply = await cli.api.get<{ members: MemberT[] }>(orgPath(org.id, "/members"));
  cli.out.result(reply, (s) => memberTable(reply.members, s));
}

interface InviteOptions extends InOrg {
  role: string;
}

async function invite(email: string, options: InviteOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, options.org);
  const created = await cli.api.post<InvitationT & { token: string; url: string }>(
    orgPath(org.id, "/invitations"),
    { email, role: options.role },
  );
  cli.out.result(
    created,
    (s) =>
      `${s.green("✓")} Invited ${created.email} to ${s.bold(org.name)} as ${created.role}; mailed to them.\n` +
      `This link and token are shown this once (valid 7 days, single use):\n` +
      `  ${created.url}\n` +
      `  latchkey org accept ${created.token}\n`,
  );
}

async function invitations(given: string | undefined, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, given);
  const reply = await cli.api.get<{ invitations: InvitationT[] }>(orgPath(org.id, "/invitations"));
  cli.out.result(reply, (s) => invitationTable(reply.invitations, s));
}

async function revokeInvitation(id: string, options: InOrg): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, options.org);
  await cli.api.delete(orgPath(org.id, `/invitations/${encodeURIComponent(id)}`));
  cli.out.result({ id, revoked: true }, (s) => `${s.green("✓")} Revoked invitation ${id}.\n`);
}

async function accept(token: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const { org } = await cli.api.post<{ org: OrgT }>("/v1/invitations/accept", { token });
  cli.out.result(
    { org },
    (s) =>
      `${s.green("✓")} Joined ${s.bold(org.name)} (${org.id}) as ${org.role}. ` +
      `Act in it with \`latchkey org switch ${org.id}\`.\n`,
  );
}

async function setRole(userId: string, role: string, options: InOrg): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, options.org);
  const member = await cli.api.patch<MemberT>(
    orgPath(org.id, `/members/${encodeURIComponent(userId)}`),
    { role: parseRole(role) },
  );
  cli.out.result(
    member,
    (s) => `${s.green("✓")} ${member.email} is now ${s.bold(member.role)} of ${org.name}.\n`,
  );
}

async function removeMember(userId: string, options: InOrg & { yes?: boolean }): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, options.org);
  await cli.api.delete(orgPath(org.id, `/members/${encodeURIComponent(userId)}`));
  cli.out.result(
    { org_id: org.id, user_id: userId, removed: true },
    (s) =>
      `${s.green("✓")} Removed ${userId} from ${s.bold(org.name)}; the keys they minted there stay the organization's.\n`,
  );
}

async function leave(given: string | undefined, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, given);
  const me = await cli.api.get<{ user_id: string }>("/v1/auth/whoami");
  await cli.api.delete(orgPath(org.id, `/members/${encodeURIComponent(me.user_id)}`));
  if (currentOrg(cli)?.org_id === org.id) clearCurrentOrg(cli);
  cli.out.result(
    { org_id: org.id, left: true },
    (s) => `${s.green("✓")} You left ${s.bold(org.name)}.\n`,
  );
}

async function policy(given: string | undefined, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, given);
  const reply = await cli.api.get<OrgPolicyT>(orgPath(org.id, "/policy"));
  cli.out.result(reply, (s) => policyFields(reply, s));
}

interface PolicyOptions extends InOrg, StepUpOptions {
  maxKeyLifetime?: string;
  require2fa?: string;
  environments?: string;
  ipAllow?: string;
  allowedScopes?: string;
}

/** `a,b c` → ["a","b","c"]; `none` / `any` → null (the policy removed). */
function listOrNone(value: string, none: readonly string[]): string[] | null {
  if (none.includes(value.trim().toLowerCase())) return null;
  return value.split(/[\s,]+/).filter(Boolean);
}

async function setPolicy(options: PolicyOptions): Promise<void> {
  const body: Record<string, unknown> = {};
  if (options.maxKeyLifetime !== undefined)
    body.max_key_lifetime = listOrNone(options.maxKeyLifetime, ["none"])?.[0] ?? null;
  if (options.require2fa !== undefined) {
    const on = options.require2fa.toLowerCase();
    if (!["on", "off", "true", "false", "yes", "no"].includes(on))
      throw usageError("--require-2fa takes on or off");
    body.require_2fa = ["on", "true", "yes"].includes(on);
  }
  if (options.environments !== undefined) {
    const envs = listOrNone(options.environments, ["any", "all"]);
    for (const env of envs ?? [])
      if (env !== "live" && env !== "test")
        throw usageError(`unknown environment: ${env}`, "live, test, or any");
    body.allowed_environments = envs;
  }
  if (options.ipAllow !== undefined) body.ip_allow = listOrNone(options.ipAllow, ["none", "any"]);
  if (options.allowedScopes !== undefined)
    body.allowed_scopes = listOrNone(options.allowedScopes, ["any", "all"]);
  if (Object.keys(body).length === 0)
    throw usageError(
      "nothing to change",
      "pass --max-key-lifetime, --require-2fa, --environments, --ip-allow or --allowed-scopes",
    );
  const cli = contextOf(options);
  const org = await orgArgument(cli, options.org);
  enableStepUp(cli, options);
  const reply = await cli.api.patch<OrgPolicyT>(orgPath(org.id, "/policy"), body);
  cli.out.result(
    reply,
    (s) => `${s.green("✓")} Policies of ${s.bold(org.name)} set:\n` + policyFields(reply, s),
  );
}

interface AuditOptions extends CommonOptions {
  limit?: string;
  event?: string;
}

async function audit(given: string | undefined, options: AuditOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await orgArgument(cli, given);
  const query = new URLSearchParams();
  if (options.limit) query.set("limit", options.limit);
  if (options.event) query.set("event", options.event);
  const suffix = query.size > 0 ? `?${query}` : "";
  const reply = await cli.api.get<{ events: AuditEntryT[]; next_before: number | null }>(
    orgPath(org.id, `/audit-log${suffix}`),
  );
  cli.out.result(reply, (s) =>
    table(
      [{ header: "WHEN" }, { header: "EVENT" }, { header: "BY" }, { header: "DETAILS" }],
      reply.events.map((e) => [
        e.at,
        e.event,
        e.actor ?? "-",
        JSON.stringify(e.details).slice(0, 80),
      ]),
      s,
    ),
  );
}

function command(name: string, description: string): Command {
  return withCommonOptions(new Command(name).description(description));
}

export function orgCommand(): Command {
  const org = new Command("org").description(
    "organizations: team-owned keys, members and roles, invitations, policies",
  );
  org.addCommand(command("list", "your organizations (* marks the switched one)").action(list));
  org.addCommand(
    command("create", "create an organization; you are its owner")
      .argument("<name>", "its name")
      .action(create),
  );
  org.addCommand(
    command("show", "an organization, your role and its policies")
      .argument("[org]", "id or name; default: the switched one")
      .action(show),
  );
  org.addCommand(
    command("rename", "rename an organization (owners and admins)")
      .argument("<org>", "id or name")
      .argument("<name>", "the new name")
      .action(rename),
  );
  org.addCommand(
    withStepUpOptions(
      command("delete", "delete an organization (owners; asks for a recent sign-in)")
        .argument("<org>", "id or name")
        .option("--revoke-keys", "revoke every key it owns (else refused while any is active)")
        .option("-y, --yes", "do not ask; required when not on a terminal"),
    ).action(remove),
  );
  org.addCommand(
    command("switch", "act in an organization from now on (token and webhook commands)")
      .argument("[org]", "id or name")
      .option("--personal", "back to your personal space")
      .action(switchTo),
  );
  org.addCommand(
    command("members", "the members and their roles")
      .argument("[org]", "id or name; default: the switched one")
      .action(members),
  );
  org.addCommand(
    withOrg(
      command("invite", "invite an address; prints the one-time link and token")
        .argument("<email>", "who may accept it (signed in with this address)")
        .addOption(
          new Option("--role <role>", "their role").choices([...ORG_ROLES]).default("member"),
        ),
    ).action(invite),
  );
  org.addCommand(
    command("invitations", "pending invitations")
      .argument("[org]", "id or name; default: the switched one")
      .action(invitations),
  );
  org.addCommand(
    withOrg(
      command("revoke-invitation", "revoke a pending invitation").argument(
        "<id>",
        "the invitation's id",
      ),
    ).action(revokeInvitation),
  );
  org.addCommand(
    command("accept", "accept an invitation (signed in with the invited address)")
      .argument("<token>", "the invitation's token (lki_…)")
      .action(accept),
  );
  org.addCommand(
    withOrg(
      command("role", "change a member's role (owners and admins; only owners for owners)")
        .argument("<user-id>", "the member (`latchkey org members` lists them)")
        .argument("<role>", ORG_ROLES.join(" | ")),
    ).action(setRole),
  );
  org.addCommand(
    withOrg(
      command("remove", "remove a member; the keys they minted stay the organization's").argument(
        "<user-id>",
        "the member",
      ),
    ).action(removeMember),
  );
  org.addCommand(
    command("leave", "leave an organization (the last owner cannot)")
      .argument("[org]", "id or name; default: the switched one")
      .action(leave),
  );
  const policyCommand = new Command("policy").description("the organization's policies: show, set");
  policyCommand.addCommand(
    command("show", "the organization's policies")
      .argument("[org]", "id or name; default: the switched one")
      .action(policy),
  );
  policyCommand.addCommand(
    withStepUpOptions(
      withOrg(
        command("set", "set policies (owners and admins; asks for a recent sign-in)")
          .option("--max-key-lifetime <duration>", "e.g. 90d; none removes it")
          .option("--require-2fa <on|off>", "members without two-factor are kept out")
          .option("--environments <list>", "live, test, or any")
          .option("--ip-allow <cidrs>", "CIDR ranges every org key must be used from; none")
          .option("--allowed-scopes <scopes>", "the most an org key may have; any"),
      ),
    ).action(setPolicy),
  );
  org.addCommand(policyCommand);
  org.addCommand(
    command("audit", "the organization's audit log (owners and admins)")
      .argument("[org]", "id or name; default: the switched one")
      .option("--limit <n>", "how many events (1 to 500)")
      .option("--event <name>", "only this event")
      .action(audit),
  );
  return org;
}
