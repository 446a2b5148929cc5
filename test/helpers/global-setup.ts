import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildWebIfStale } from "../browser/web-build.js";

/** Written after each build: dist/ is current when it is newer than every input. */
const STAMP = join("dist", ".tests-built");
const INPUTS = ["src", "package.json", "tsconfig.json", "tsconfig.build.json"];

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/**
 * CLI and cluster tests run the real compiled program: build it once per run, unless no source
 * changed since the last build (tsc takes tens of seconds on a busy machine). Type errors are
 * the typecheck step's business (tsc still emits), so they don't stop the tests here.
 */
function buildDistIfStale(): void {
  if (existsSync(STAMP) && statSync(STAMP).mtimeMs >= Math.max(...INPUTS.map(newest))) return;
  const result = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { encoding: "utf8" });
  if (result.status !== 0) {
    process.stderr.write(
      `warning: tsc reported problems while building dist/:\n${result.stdout.slice(0, 2000)}\n`,
    );
  }
  if (existsSync("dist")) writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

export default function setup(): void {
  buildDistIfStale();
  // The server serves the portal from web/dist; the browser tests need it current.
  buildWebIfStale();
}
