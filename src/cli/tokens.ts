import { Argument, Command, Option } from "commander";
import type { KeyListT } from "../api/keys.js";
import { LEAK_POLICIES, type LeakPolicyT } from "../api/leaks.js";
import { applyOrg, withOrgOptions, type OrgOptions } from "./org-context.js";
import { contextOf, withCommonOptions, type Cli, type CommonOptions } from "./context.js";
import { enableStepUp, withStepUpOptions, type StepUpOptions } from "./step-up.js";
import { usageError } from "./exit.js";
import { exchangeToken } from "./exchange.js";
import {
  expiryNote,
  keyFields,
  keyTable,
  renderSecret,
  tallyTable,
  type CreatedKey,
  type KeyDetails,
  type KeyRecord,
  type RevokedKey,
} from "./key-views.js";
import { confirm, isInteractive } from "./prompt.js";
import {
  collectLimit,
  limitBody,
  parseCredits,
  parseRefill,
  type LimitOptions,
} from "./key-limits.js";

const path = (id: string) => `/v1/api-keys/${encodeURIComponent(id)}`;

/** A repeatable option whose values may also be separated by commas or spaces. */
function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(/[\s,]+/).filter(Boolean)];
}

interface CreateOptions extends CommonOptions, StepUpOptions, LimitOptions, OrgOptions {
  scope: string[];
  env?: "live" | "test";
  expires?: string;
  project?: string;
  description?: string;
  meta?: Record<string, unknown>;
}

/** `--meta '{"customer":"cus_1"}'`: a JSON object, checked here so a typo is a usage error. */
function parseMeta(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw usageError('--meta must be a JSON object, e.g. \'{"customer":"cus_1"}\'');
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw usageError('--meta must be a JSON object, e.g. \'{"customer":"cus_1"}\'');
  return value as Record<string, unknown>;
}

async function create(name: string, options: CreateOptions): Promise<void> {
  const cli = contextOf(options);
  const org = await applyOrg(cli, options);
  enableStepUp(cli, options);
  const body: Record<string, unknown> = { name, scopes: options.scope };
  if (options.env) body.environment = options.env;
  if (options.expires) body.expires_in = options.expires;
  if (options.project) body.project_id = options.project;
  if (options.description !== undefined) body.description = options.description;
  if (options.meta !== undefined) body.meta = options.meta;
  Object.assign(body, limitBody(options));
  const created = await cli.api.post<CreatedKey>("/v1/api-keys", body);
  cli.out.result(
    created,
    (s) =>
      `${s.green("✓")} Created ${created.environment} key ${s.bold(created.id)} "${created.name}" ` +
      (org ? `owned by the organization ${org.name} ` : "") +
      `with ${created.scopes.join(", ")}; it ${expiryNote(created)}.\n` +
      renderSecret(created, s),
  );
}

async function list(options: CommonOptions & OrgOptions): Promise<void> {
  const cli = contextOf(options);
  await applyOrg(cli, options);
  const reply = await cli.api.get<KeyListT>("/v1/api-keys");
  cli.out.result(reply, (s) => keyTable(reply.api_keys, s));
}

async function show(id: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const key = await cli.api.get<KeyDetails>(path(id));
  cli.out.result(key, (s) => {
    const usage = key.usage;
    return (
      keyFields(key, s) +
      tallyTable("Usage by endpoint", "ENDPOINT", (t) => t.endpoint, usage.by_endpoint, s) +
      tallyTable(
        "Usage by project",
        "PROJECT",
        (t) => t.project_id ?? "(no project)",
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

/** `token disable` / `token enable`: pause a key without revoking it, and resume it. */
function toggle(enabled: boolean) {
  return async (id: string, options: CommonOptions): Promise<void> => {
    const cli = contextOf(options);
    const key = await cli.api.patch<KeyRecord>(path(id), { enabled });
    cli.out.result(key, (s) =>
      enabled
        ? `${s.green("✓")} Enabled ${s.bold(id)}: it works again.\n`
        : `${s.green("✓")} Disabled ${s.bold(id)}: every use is refused (key_disabled) until \`latchkey token enable ${id}\`.\n`,
    );
  };
}

interface RotateOptions extends CommonOptions, StepUpOptions {
  expireOldIn?: string;
}

async function rotate(id: string, options: RotateOptions): Promise<void> {
  const cli = contextOf(options);
  enableStepUp(cli, options);
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

interface EditOptions extends CommonOptions, LimitOptions {
  name?: string;
  scope?: string[];
  description?: string;
  meta?: Record<string, unknown>;
  clearMeta?: boolean;
  expires?: string;
  ipAllow?: string[];
  clearIpAllow?: boolean;
}

async function edit(id: string, options: EditOptions): Promise<void> {
  const body: Record<string, unknown> = {};
  if (options.name !== undefined) body.name = options.name;
  if (options.scope !== undefined) body.scopes = options.scope;
  if (options.description !== undefined) body.description = options.description;
  if (options.meta !== undefined && options.clearMeta)
    throw usageError("give --meta or --clear-meta, not both");
  if (options.meta !== undefined) body.meta = options.meta;
  if (options.clearMeta) body.meta = null;
  if (options.expires !== undefined) body.expires_in = options.expires;
  if (options.ipAllow !== undefined && options.clearIpAllow)
    throw usageError("give --ip-allow or --clear-ip-allow, not both");
  if (options.ipAllow !== undefined) body.ip_allow = options.ipAllow;
  if (options.clearIpAllow) body.ip_allow = null;
  Object.assign(body, limitBody(options));
  if (Object.keys(body).length === 0)
    throw usageError(
      "nothing to change",
      "pass --name N, --scope S (scopes may only narrow), --description D, --meta JSON, --expires D (only earlier), --ip-allow CIDR, --credits N, --refill N/daily or --ratelimit NAME=LIMIT/WINDOW",
    );
  const cli: Cli = contextOf(options);
  const key = await cli.api.patch<KeyRecord>(path(id), body);
  cli.out.result(key, (s) => `${s.green("✓")} Updated ${s.bold(key.id)}.\n\n${keyFields(key, s)}`);
}

const LEAK_POLICY_MEANS: Record<LeakPolicyT["policy"], string> = {
  revoke: "a key reported as leaked is revoked at once",
  quarantine:
    "a key reported as leaked is refused (key_leaked) until you `latchkey token enable` it or revoke it",
};

/** `token leak-policy [revoke|quarantine]`: shows the policy, or sets it (step-up). */
async function leakPolicy(
  policy: LeakPolicyT["policy"] | undefined,
  options: CommonOptions & StepUpOptions & OrgOptions,
): Promise<void> {
  const cli = contextOf(options);
  await applyOrg(cli, options);
  enableStepUp(cli, options);
  const reply = policy
    ? await cli.api.call<LeakPolicyT>("PUT", "/v1/keys/leaks/policy", { body: { policy } })
    : await cli.api.get<LeakPolicyT>("/v1/keys/leaks/policy");
  cli.out.result(
    reply,
    (s) =>
      `${policy ? `${s.green("✓")} ` : ""}Leak policy: ${s.bold(reply.policy)}: ` +
      `${LEAK_POLICY_MEANS[reply.policy]}.\n`,
  );
}

const SCOPE_HELP = "a scope, e.g. services:read (repeat, or separate with commas)";
const CREDITS_HELP = "usage credits: verifications (or their cost) the key may spend";
const REFILL_HELP = "reset the credits each UTC day or month, e.g. 1000/daily, 50000/monthly";
const RATELIMIT_HELP =
  "a named rate limit (sliding window), e.g. api=100/1m or api=100/1m:5 for a cost of 5 (repeat)";

export function tokenCommand(): Command {
  const token = new Command("token").description("scoped API keys for CI, scripts and services");
  token.addCommand(
    withCommonOptions(
      withStepUpOptions(
        withOrgOptions(new Command("create"))
          .description(
            "create an API key (an organization's with --org or after `org switch`); its secret is printed this once",
          )
          .argument("<name>", "what the key is for, e.g. ci-deploy")
          .requiredOption("--scope <scope>", SCOPE_HELP, collectList)
          .addOption(new Option("--env <environment>", "key environment").choices(["live", "test"]))
          .option("--expires <duration>", "lifetime, e.g. 30d, 90d, 24h, 1y (default: never)")
          .option("--project <id>", "restrict the key to one project")
          .option("--description <text>", "what the key is for, for people")
          .option("--meta <json>", "a JSON object (≤ 4 KiB) that verification returns", parseMeta)
          .option("--credits <n>", CREDITS_HELP, parseCredits)
          .option("--refill <amount/interval>", REFILL_HELP, parseRefill)
          .option("--ratelimit <name=limit/window>", RATELIMIT_HELP, collectLimit),
      ),
    ).action(create),
  );
  token.addCommand(
    withCommonOptions(
      withOrgOptions(
        new Command("list").description(
          "your API keys (an organization's with --org or after `org switch`), without their secrets",
        ),
      ),
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
      new Command("disable")
        .description("refuse every use of a key (key_disabled) without revoking it")
        .argument("<id>", "key id (key_…)"),
    ).action(toggle(false)),
  );
  token.addCommand(
    withCommonOptions(
      new Command("enable")
        .description("let a disabled key work again")
        .argument("<id>", "key id (key_…)"),
    ).action(toggle(true)),
  );
  token.addCommand(
    withCommonOptions(
      withStepUpOptions(
        new Command("rotate")
          .description(
            "a new key with the same name, scopes and environment; the old one keeps working",
          )
          .argument("<id>", "key id (key_…)")
          .option("--expire-old-in <duration>", "let the old key expire after this long, e.g. 24h"),
      ),
    ).action(rotate),
  );
  token.addCommand(
    withCommonOptions(
      new Command("edit")
        .description("rename a key, narrow its scopes, or change its description or metadata")
        .argument("<id>", "key id (key_…)")
        .option("--name <name>", "new name")
        .option("--scope <scope>", `${SCOPE_HELP}; the new set must be narrower`, collectList)
        .option("--description <text>", "new description ('' clears it)")
        .option(
          "--meta <json>",
          "new metadata: a JSON object (≤ 4 KiB), replacing the old",
          parseMeta,
        )
        .option("--clear-meta", "remove the metadata")
        .option("--expires <duration>", "end the key sooner: a duration from now, e.g. 24h")
        .option(
          "--ip-allow <cidr>",
          "replace the addresses the key may be used from (repeat, or separate with commas)",
          collectList,
        )
        .option("--clear-ip-allow", "let the key be used from any address")
        .option("--credits <n>", `set the balance: ${CREDITS_HELP}`, parseCredits)
        .option("--clear-credits", "unlimited use: no credits")
        .option("--refill <amount/interval>", REFILL_HELP, parseRefill)
        .option("--clear-refill", "stop refilling the credits")
        .option("--ratelimit <name=limit/window>", `${RATELIMIT_HELP}; replaces them`, collectLimit)
        .option("--clear-ratelimits", "remove the key's named rate limits"),
    ).action(edit),
  );
  token.addCommand(
    withCommonOptions(
      new Command("exchange")
        .description(
          "exchange an API key for a short-lived access token (JWT, at most 15 min) that services verify offline",
        )
        .option("--key-stdin", "read the API key from stdin")
        .option(
          "--key <key>",
          "the API key (other local users can see it in the process list: prefer --key-stdin or LATCHKEY_API_KEY)",
        )
        .option("--scope <scope>", `${SCOPE_HELP}; default: all of the key's`, collectList)
        .option(
          "--expires <duration>",
          "how long the token lives, e.g. 10m (default 5m, at most 15m)",
        ),
    ).action(exchangeToken),
  );
  token.addCommand(
    withCommonOptions(
      withStepUpOptions(
        withOrgOptions(new Command("leak-policy"))
          .description(
            "what a leak report does to your keys: revoke (default) or quarantine; no argument shows it",
          )
          .addArgument(
            new Argument("[policy]", "the policy to set (asks for a recent sign-in)").choices(
              LEAK_POLICIES,
            ),
          ),
      ),
    ).action(leakPolicy),
  );
  return token;
}
