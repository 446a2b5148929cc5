import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "./index.js";

function everyCommand(command: Command): Command[] {
  return [command, ...command.commands.flatMap(everyCommand)];
}

function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

describe("the latchkey program", () => {
  it("has --help with a description on every command and subcommand", async () => {
    const program = await buildProgram(["node", "latchkey", "admin"]);
    const commands = everyCommand(program);
    expect(commands.map(fullName)).toEqual(
      expect.arrayContaining([
        "latchkey login",
        "latchkey logout",
        "latchkey whoami",
        "latchkey auth set-token",
        "latchkey 2fa enable",
        "latchkey 2fa status",
        "latchkey 2fa disable",
        "latchkey token create",
        "latchkey token list",
        "latchkey token show",
        "latchkey token revoke",
        "latchkey token rotate",
        "latchkey token edit",
        "latchkey users list",
        "latchkey users set",
        "latchkey serve",
        "latchkey password change",
        "latchkey password reset",
        "latchkey password reset-confirm",
        "latchkey email verify",
        "latchkey email resend",
        "latchkey token leak-policy",
        "latchkey webhook create",
        "latchkey webhook list",
        "latchkey webhook deliveries",
        "latchkey webhook redeliver",
        "latchkey webhook rotate-secret",
        "latchkey webhook events",
      ]),
    );
    for (const command of commands) {
      const help = command.helpInformation();
      expect(help, fullName(command)).toContain(`Usage: ${fullName(command)}`);
      expect(help, fullName(command)).toContain("-h, --help");
      expect(command.description(), fullName(command)).not.toBe("");
    }
  });

  it("offers -o json|table and --api-url on every command that talks to the server", async () => {
    const program = await buildProgram(["node", "latchkey"]);
    const leaves = everyCommand(program).filter(
      (c) => c.commands.length === 0 && !["serve", "admin", "help"].includes(c.name()),
    );
    expect(leaves.length).toBeGreaterThanOrEqual(14);
    for (const leaf of leaves) {
      const flags = leaf.options.map((o) => o.flags);
      expect(flags, fullName(leaf)).toEqual(
        expect.arrayContaining(["--api-url <url>", "-o, --output <format>"]),
      );
    }
  });
});
