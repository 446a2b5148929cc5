import { spawnSync } from "node:child_process";
import { buildWebIfStale } from "../browser/web-build.js";

/**
 * CLI and cluster tests run the real compiled program: build it once per run. Type errors
 * are the typecheck step's business (tsc still emits), so they don't stop the tests here.
 */
export default function setup(): void {
  // The server's dist/, then the SDK package's (tsc -p: `tsc -b` would look at its src/sdk
  // roots only and miss an edit to the src/api or src/core files it compiles in).
  for (const build of [
    ["tsc", "-b", "tsconfig.build.json"],
    ["tsc", "-p", "packages/sdk/tsconfig.json"],
  ]) {
    const result = spawnSync("npx", build, { encoding: "utf8" });
    if (result.status !== 0) {
      process.stderr.write(
        `warning: tsc reported problems while building dist/:\n${result.stdout.slice(0, 2000)}\n`,
      );
    }
  }
  // The server serves the portal from web/dist; the browser tests need it current.
  buildWebIfStale();
}
