/**
 * `npm run bench`: the verification hot path side by side with Better Auth and the bare-Node
 * ceiling, in one run on one machine (ratios hold where absolute numbers drift).
 * Every server runs in its own process; the load generator (wrk, else autocannon) in another.
 * Env: BENCH_DURATION (10 s), BENCH_WARMUP (3 s), BENCH_CASES (e.g. "a,b,f"),
 * BENCH_PROFILE (e.g. "b,c": profile those cases with --cpu-prof), BENCH_DATABASE_URL.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
  readdirSync,
} from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Cases, type CaseEnv } from "./lib/cases.js";
import { pickGenerator, stopLoad } from "./lib/load.js";
import { run, stopAll } from "./lib/processes.js";
import { floors, table, targetTable, targets, type CaseResult } from "./lib/report.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BUDGET_MS = 290_000;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

async function prepare(): Promise<void> {
  if (!existsSync(join(ROOT, "bench/node_modules/better-auth/package.json"))) {
    process.stdout.write("installing bench dependencies (bench/package-lock.json)…\n");
    await run(
      "npm",
      ["ci", "--prefix", "bench", "--legacy-peer-deps", "--no-audit", "--no-fund"],
      ROOT,
    );
  }
  const main = join(ROOT, "dist/main.js");
  const stale = !existsSync(main) || newestMtime(join(ROOT, "src")) > statSync(main).mtimeMs;
  if (stale && process.env.BENCH_SKIP_BUILD !== "1") {
    process.stdout.write("building Latchkey (npm run build)…\n");
    await run("npm", ["run", "build"], ROOT);
  }
}

function machine() {
  return {
    cpus: availableParallelism(),
    cpu_model: cpus()[0]?.model ?? "unknown",
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    load_average_at_start: loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const watchdog = setTimeout(() => {
    process.stderr.write("bench: over its time budget; stopping everything\n");
    void abort(2);
  }, BUDGET_MS);
  watchdog.unref();

  await prepare();
  const work = mkdtempSync(join(tmpdir(), "latchkey-bench-"));
  const env: CaseEnv = {
    root: ROOT,
    work,
    generator: pickGenerator(),
    connections: 50,
    warmupSeconds: Number(process.env.BENCH_WARMUP ?? 3),
    seconds: Number(process.env.BENCH_DURATION ?? 10),
    maxRequests: 3_000_000,
    only: process.env.BENCH_CASES ? new Set(process.env.BENCH_CASES.split(",")) : null,
    profile: new Set((process.env.BENCH_PROFILE ?? "").split(",").filter(Boolean)),
    databaseUrl: process.env.BENCH_DATABASE_URL ?? "postgres://127.0.0.1:5432/test",
    log: (line) => process.stdout.write(`  ${line}\n`),
  };
  const info = machine();
  process.stdout.write(
    `Latchkey bench: ${info.cpus} CPUs (${info.cpu_model}), Node ${info.node}, ${env.generator}, ` +
      `${env.connections} connections, ${env.warmupSeconds} s warm-up + ${env.seconds} s per case\n`,
  );

  const cases = new Cases(env);
  cleanup = async () => {
    stopLoad();
    await stopAll();
    await cases.cleanup();
    rmSync(work, { recursive: true, force: true });
  };
  try {
    await cases.runAll();
  } finally {
    await teardown();
  }

  const results: CaseResult[] = cases.results;
  const byId = new Map(results.map((r) => [r.id, r]));
  const verdicts = targets(byId);
  const floorLines = floors(byId);
  process.stdout.write(`\n${table(results)}\n\n${targetTable(verdicts)}\n`);
  if (floorLines.length > 0) process.stdout.write(`\n${floorLines.join("\n")}\n`);
  for (const note of cases.notes) process.stdout.write(`\n${note}\n`);

  const out = join(ROOT, "bench/results");
  mkdirSync(out, { recursive: true });
  const report = {
    date: new Date(started).toISOString(),
    elapsed_s: Math.round((Date.now() - started) / 1000),
    machine: info,
    settings: {
      generator: env.generator,
      connections: env.connections,
      warmup_s: env.warmupSeconds,
      duration_s: env.seconds,
    },
    cases: results,
    targets: verdicts,
    floors: floorLines,
    profiles: cases.profiles,
    notes: cases.notes,
  };
  // A run of selected cases (BENCH_CASES) must not overwrite the full run's record.
  const name = env.only ? "partial.json" : "latest.json";
  writeFileSync(join(out, name), JSON.stringify(report, null, 2) + "\n");
  process.stdout.write(`\nwrote bench/results/${name} (${report.elapsed_s} s)\n`);
}

/** Stops every process, drops the run's PostgreSQL database, removes its temp dir. */
let cleanup: () => Promise<void> = stopAll;
let tornDown: Promise<void> | null = null;
const teardown = (): Promise<void> => (tornDown ??= cleanup());

let aborting = false;
async function abort(code: number): Promise<void> {
  // A signal and the failure it causes (a stopped server) both land here: exit once.
  if (aborting) return;
  aborting = true;
  await teardown().catch(() => undefined);
  process.exit(code);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void abort(130));

main().catch(async (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  await abort(1);
});
