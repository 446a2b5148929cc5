/**
 * Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`): what dominates.
 * Also a CLI: `node --import tsx bench/lib/profile.ts <file.cpuprofile> [top]`.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  function: string;
  where: string;
  self_pct: number;
}

export function topSelfTime(file: string, top = 20, root = process.cwd()): HotFunction[] {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (!node) return;
    // Count samples rather than sum time deltas: on a busy machine a descheduled gap would
    // be charged to whichever function the next sample lands in.
    const delta = 1;
    void i;
    const { functionName, url, lineNumber } = node.callFrame;
    // Waiting for I/O is not work: percentages are of busy time.
    if (functionName === "(idle)") return;
    const where = url
      ? `${relative(root, url.replace(/^file:\/\//, ""))}:${lineNumber + 1}`
      : "(native)";
    const key = `${functionName || "(anonymous)"}\t${where}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
    total += delta;
  });
  return [...selfUs.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([key, us]) => {
      const [fn, where] = key.split("\t") as [string, string];
      return { function: fn, where, self_pct: Math.round((us / total) * 1000) / 10 };
    });
}

const invoked = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, "/"));
if (invoked && process.argv[2]) {
  for (const row of topSelfTime(process.argv[2], Number(process.argv[3] ?? 25)))
    process.stdout.write(`${String(row.self_pct).padStart(5)}%  ${row.function}  ${row.where}\n`);
}
