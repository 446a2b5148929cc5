#!/usr/bin/env node
// The installed `latchkey` command: runs the compiled CLI (built by `npm install` / `npm run build`).
import { run } from "../dist/cli/index.js";

run(process.argv).catch((error) => {
  process.stderr.write(`latchkey: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
