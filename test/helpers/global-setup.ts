import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildWebIfStale } from "../browser/web-build.js";

/** Written after each build: dist/ is current when it is newer than every input. */
const STAMP = join("dist", ".tests-built");
const INPUTS = [
  "src",
  "package.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "packages/sdk/package.json",
  "packages/sdk/tsconfig.json",
];
/** The server's dist/, then the SDK package's (packages/sdk/dist: src/sdk and the src/api and src/core files it imports). */
const BUILDS = [
  ["tsc", "-p", "tsconfig.build.json"],
  ["tsc", "-p", "packages/sdk/tsconfig.json"],
];

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
  const built = existsSync(STAMP) && existsSync(join("packages", "sdk", "dist", "sdk", "index.js"));
  if (built && statSync(STAMP).mtimeMs >= Math.max(...INPUTS.map(newest))) return;
  for (const build of BUILDS) {
    const result = spawnSync("npx", build, { encoding: "utf8" });
    if (result.status !== 0) {
      process.stderr.write(
        `warning: tsc reported problems while building dist/:\n${result.stdout.slice(0, 2000)}\n`,
      );
    }
  }
  if (existsSync("dist")) writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

export default function setup(): void {
  buildDistIfStale();
  // The server serves the portal from web/dist; the browser tests need it current.
  buildWebIfStale();
}
