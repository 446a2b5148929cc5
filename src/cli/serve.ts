import { Command } from "commander";

/** `latchkey serve`: the server, exactly as `npm start` runs it (loaded only when asked for). */
export function serveCommand(): Command {
  return new Command("serve")
    .description(
      "start the Latchkey server (as npm start; configured by PORT, HOST, DATABASE_URL …)",
    )
    .action(async () => {
      const { serve } = await import("../main.js");
      await serve();
    });
}
