import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/** Builds web/dist with Vite when it is missing or older than the portal's sources. */
export function buildWebIfStale(root = process.cwd()): void {
  const web = join(root, "web");
  const index = join(web, "dist", "index.html");
  const sources = ["src", "public", "index.html", "vite.config.ts"].map((p) =>
    newest(join(web, p)),
  );
  if (existsSync(index) && statSync(index).mtimeMs >= Math.max(...sources)) return;
  const result = spawnSync("npx", ["vite", "build", "web", "--logLevel", "warn"], {
    cwd: root,
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`vite build failed:\n${result.stderr.slice(0, 4000)}`);
}
