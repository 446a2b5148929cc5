import { execFileSync } from "node:child_process";

/** CLI and cluster tests run the real compiled program: build it once per run. */
export default function setup(): void {
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
}
