#!/usr/bin/env node
import { Command } from "commander";
import { serve } from "../main.js";
import { adminCommand } from "./admin.js";

/** The `latchkey` program. Each command group lives in its own file beside this one. */
export function buildProgram(): Command {
  const program = new Command("latchkey")
    .description("Latchkey: accounts, 2FA and scoped API keys")
    .showHelpAfterError();
  program
    .command("serve")
    .description("start the Latchkey server (as npm start)")
    .action(async () => {
      await serve();
    });
  program.addCommand(adminCommand());
  return program;
}

export async function run(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
