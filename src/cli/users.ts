import { Command, Option } from "commander";
import type { AdminUserListT, SessionsEndedT, UserT } from "../api/schemas.js";
import { PLANS } from "../core/plans.js";
import { ROLES } from "../core/scopes.js";
import { contextOf, withCommonOptions, type CommonOptions } from "./context.js";
import { usageError } from "./exit.js";
import { ownerLimitsCommand } from "./key-limits.js";
import { fields, table, type Style } from "./output.js";

type AdminUser = UserT;

const yesNo = (flag: boolean) => (flag ? "yes" : "no");

function userTable(users: readonly AdminUser[], s: Style): string {
  if (users.length === 0) return "No users.\n";
  return table(
    [
      { header: "ID" },
      { header: "EMAIL" },
      { header: "ROLE" },
      { header: "PLAN" },
      { header: "STAFF" },
      { header: "SERVICE" },
      { header: "DISABLED" },
    ],
    users.map((u) => [
      u.id,
      u.email,
      u.role,
      u.plan,
      yesNo(u.staff),
      yesNo(u.service),
      yesNo(u.disabled),
    ]),
    s,
  );
}

function userFields(u: AdminUser, s: Style): string {
  return fields(
    [
      ["id", u.id],
      ["email", u.email],
      ["role", u.role],
      ["plan", u.plan],
      ["staff", yesNo(u.staff)],
      ["service", u.service ? "yes (may verify every tenant's keys)" : "no"],
      ["disabled", yesNo(u.disabled)],
      ["created", u.created_at],
    ],
    s,
  );
}

interface ListOptions extends CommonOptions {
  limit?: string;
  offset?: string;
}

async function list(options: ListOptions): Promise<void> {
  const cli = contextOf(options);
  const query = new URLSearchParams();
  if (options.limit !== undefined) query.set("limit", options.limit);
  if (options.offset !== undefined) query.set("offset", options.offset);
  const suffix = query.size > 0 ? `?${query}` : "";
  const reply = await cli.api.get<AdminUserListT>(`/v1/admin/users${suffix}`);
  cli.out.result(reply, (s) => userTable(reply.users, s));
}

interface SetOptions extends CommonOptions {
  plan?: string;
  role?: string;
  staff?: boolean;
  service?: boolean;
  disabled?: boolean;
}

async function set(id: string, options: SetOptions): Promise<void> {
  const body: Record<string, unknown> = {};
  for (const field of ["plan", "role", "staff", "service", "disabled"] as const)
    if (options[field] !== undefined) body[field] = options[field];
  if (Object.keys(body).length === 0)
    throw usageError(
      "nothing to change",
      "pass --plan, --role, --staff/--no-staff, --service/--no-service or --disabled/--no-disabled",
    );
  const cli = contextOf(options);
  const user = await cli.api.patch<AdminUser>(`/v1/admin/users/${encodeURIComponent(id)}`, body);
  cli.out.result(
    user,
    (s) => `${s.green("✓")} Updated ${s.bold(user.id)}.\n\n${userFields(user, s)}`,
  );
}

async function signOut(id: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const result = await cli.api.delete<SessionsEndedT>(
    `/v1/admin/users/${encodeURIComponent(id)}/sessions`,
  );
  cli.out.result(
    result,
    (s) =>
      `${s.green("✓")} Signed ${s.bold(id)} out everywhere: ${result.sessions_ended} session(s) ended. Their API keys still work.\n`,
  );
}

/** `latchkey users …`: staff manage accounts over the API (needs `admin:*`). */
export function usersCommand(): Command {
  const users = new Command("users").description(
    "staff only: list accounts, set plans, roles, and the staff, service and disabled flags",
  );
  users.addCommand(
    withCommonOptions(
      new Command("list")
        .description("every account, oldest first")
        .option("--limit <n>", "at most this many (1-500, default 100)")
        .option("--offset <n>", "skip this many"),
    ).action(list),
  );
  users.addCommand(
    withCommonOptions(
      new Command("set")
        .description("change an account; takes effect at once, on every instance")
        .argument("<id>", "user id (usr_…)")
        .addOption(new Option("--plan <plan>", "key-limit plan").choices(PLANS))
        .addOption(new Option("--role <role>", "role").choices(ROLES))
        .option("--staff", "make the account staff (admin:*)")
        .option("--no-staff", "take staff away")
        .option(
          "--service",
          "make it a service account: it may verify any tenant's keys (keys:verify) and see leak-report outcomes (keys:report)",
        )
        .option("--no-service", "take the service privilege away")
        .option("--disabled", "disable the account (its sessions end, its keys stop working)")
        .option("--no-disabled", "enable the account again"),
    ).action(set),
  );
  users.addCommand(
    withCommonOptions(
      new Command("sign-out")
        .description("end every session of an account, on every instance (its API keys stay)")
        .argument("<id>", "user id (usr_…)"),
    ).action(signOut),
  );
  users.addCommand(ownerLimitsCommand());
  return users;
}
