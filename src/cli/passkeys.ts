/**
 * `latchkey passkey …` (SPEC §9): the account's passkeys. A passkey is created where a
 * browser can talk to the authenticator (the portal's Security page); from a terminal
 * they are listed, renamed and removed (removing one asks for a recent sign-in: step-up).
 */
import { Command } from "commander";
import type { PasskeyListT, PasskeyT } from "../api/passkeys.js";
import { contextOf, withCommonOptions, type CommonOptions } from "./context.js";
import { calendarDate, relativeTime, table, type Style } from "./output.js";
import { enableStepUp, withStepUpOptions, type StepUpOptions } from "./step-up.js";

function passkeyTable(passkeys: readonly PasskeyT[], s: Style): string {
  if (passkeys.length === 0)
    return "No passkeys. Add one on the portal's Security page (it needs a browser).\n";
  return table(
    [
      { header: "ID" },
      { header: "NAME" },
      { header: "KIND" },
      { header: "ADDED" },
      { header: "LAST USED" },
    ],
    passkeys.map((p) => [
      p.id,
      p.name,
      p.device_type === "multiDevice" ? "synced" : "this device",
      calendarDate(p.created_at),
      p.last_used_at ? relativeTime(p.last_used_at) : "never",
    ]),
    s,
  );
}

async function list(options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const reply = await cli.api.get<PasskeyListT>("/v1/auth/passkeys");
  cli.out.result(reply, (s) => passkeyTable(reply.passkeys, s));
}

async function rename(id: string, name: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const passkey = await cli.api.patch<PasskeyT>(`/v1/auth/passkeys/${encodeURIComponent(id)}`, {
    name,
  });
  cli.out.result(
    passkey,
    (s) => `${s.green("✓")} Renamed ${s.bold(passkey.id)} to “${passkey.name}”.\n`,
  );
}

async function remove(id: string, options: CommonOptions & StepUpOptions): Promise<void> {
  const cli = contextOf(options);
  enableStepUp(cli, options);
  await cli.api.delete<unknown>(`/v1/auth/passkeys/${encodeURIComponent(id)}`);
  cli.out.result(
    { id, removed: true },
    (s) =>
      `${s.green("✓")} Removed passkey ${s.bold(id)}; it no longer signs you in. ` +
      "Delete it from the device or password manager too.\n",
  );
}

export function passkeyCommand(): Command {
  const passkey = new Command("passkey").description(
    "your passkeys (WebAuthn): list, rename, remove; add them in the portal",
  );
  passkey.addCommand(
    withCommonOptions(new Command("list").description("your passkeys, oldest first")).action(list),
  );
  passkey.addCommand(
    withCommonOptions(
      new Command("rename")
        .description("give a passkey a name you will recognise")
        .argument("<id>", "passkey id (pk_…)")
        .argument("<name>", "the new name (1-64 characters)"),
    ).action(rename),
  );
  passkey.addCommand(
    withCommonOptions(
      withStepUpOptions(
        new Command("remove")
          .description("remove a passkey (asks you to confirm it is you when the sign-in is old)")
          .argument("<id>", "passkey id (pk_…)"),
      ),
    ).action(remove),
  );
  return passkey;
}
