/** The soak test's bookkeeping: per-kind counts and latencies, pacing, and RSS samples. */
import { readFileSync } from "node:fs";

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The `p`-th percentile (0–100) by nearest rank. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Requests by kind: how many of each status (0: no answer), and every latency. */
export class Stats {
  private readonly kinds = new Map<string, { statuses: Map<number, number>; ms: number[] }>();

  record(kind: string, status: number, ms: number): void {
    let entry = this.kinds.get(kind);
    if (!entry) {
      entry = { statuses: new Map(), ms: [] };
      this.kinds.set(kind, entry);
    }
    entry.statuses.set(status, (entry.statuses.get(status) ?? 0) + 1);
    entry.ms.push(ms);
  }

  count(kind: string, status?: number): number {
    const entry = this.kinds.get(kind);
    if (!entry) return 0;
    if (status !== undefined) return entry.statuses.get(status) ?? 0;
    return entry.ms.length;
  }

  total(): number {
    let sum = 0;
    for (const entry of this.kinds.values()) sum += entry.ms.length;
    return sum;
  }

  /** Answers with a status ≥ 500, and requests with no answer at all (status 0). */
  failures(): { kind: string; status: number; count: number }[] {
    const out: { kind: string; status: number; count: number }[] = [];
    for (const [kind, entry] of this.kinds)
      for (const [status, count] of entry.statuses)
        if (status >= 500 || status === 0) out.push({ kind, status, count });
    return out;
  }

  rows(): { kind: string; requests: number; statuses: string; p50: number; p99: number }[] {
    return [...this.kinds.entries()]
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([kind, entry]) => {
        const sorted = [...entry.ms].sort((x, y) => x - y);
        return {
          kind,
          requests: entry.ms.length,
          statuses: [...entry.statuses.entries()]
            .sort(([x], [y]) => x - y)
            .map(([status, count]) => `${status}×${count}`)
            .join(" "),
          p50: Math.round(percentile(sorted, 50) * 10) / 10,
          p99: Math.round(percentile(sorted, 99) * 10) / 10,
        };
      });
  }
}

/** Spaces out operations to at most `perSecond` (0: no pacing), across every worker. */
export function pacer(perSecond: number): () => Promise<void> {
  if (perSecond <= 0) return async () => {};
  const interval = 1000 / perSecond;
  let next = performance.now();
  return async () => {
    const now = performance.now();
    next = Math.max(next + interval, now);
    const wait = next - now;
    if (wait >= 1) await sleep(wait);
  };
}

/** A process's resident set size in KiB (Linux: VmRSS in /proc/<pid>/status); NaN elsewhere. */
export function rssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : NaN;
  } catch {
    return NaN;
  }
}

export interface RssSample {
  /** Milliseconds since the traffic started. */
  at: number;
  kib: number;
}

/** Samples each pid's RSS at once, every `everyMs`, and when stopped. */
export function sampleRss(
  pids: Record<string, number>,
  everyMs: number,
  start: number,
): { samples: Record<string, RssSample[]>; stop(): void } {
  const samples: Record<string, RssSample[]> = {};
  for (const name of Object.keys(pids)) samples[name] = [];
  const take = () => {
    const at = Math.round(performance.now() - start);
    for (const [name, pid] of Object.entries(pids)) samples[name]!.push({ at, kib: rssKiB(pid) });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      take();
    },
  };
}

/**
 * RSS at the end of warm-up (the median of the samples within `window` ms either side of
 * `warmupMs`) and at the end (the median of the last three samples).
 */
export function rssGrowth(
  samples: RssSample[],
  warmupMs: number,
  window: number,
): { warm: number; end: number; peak: number; ratio: number } {
  const around = samples.filter((s) => Math.abs(s.at - warmupMs) <= window).map((s) => s.kib);
  const warm = median(around.length ? around : samples.slice(0, 3).map((s) => s.kib));
  const end = median(samples.slice(-3).map((s) => s.kib));
  const peak = Math.max(...samples.map((s) => s.kib));
  return { warm, end, peak, ratio: end / warm };
}

export interface AfterGc {
  /** VmRSS in KiB: the median of three samples a second apart, from `settleMs` after the GC. */
  rssKiB: number;
  /** What the process reported right after the collection (bytes): the live JS heap… */
  heapUsed: number;
  /** …and the young generation's committed size, which V8 grows and shrinks with the load. */
  newSpace: number;
}

/**
 * Each process's memory just after a full garbage collection: signals each (a preload,
 * soak-gc.mjs, runs `gc()` on SIGUSR2 and writes a `soak-memory {…}` line to stderr), waits
 * `settleMs`, then samples VmRSS three times a second apart.
 */
export async function memoryAfterGc(
  processes: Record<string, { pid: number; output(): string }>,
  settleMs = 2_000,
): Promise<Record<string, AfterGc>> {
  const seen = Object.fromEntries(
    Object.entries(processes).map(([name, p]) => [name, p.output().length]),
  );
  for (const { pid } of Object.values(processes)) process.kill(pid, "SIGUSR2");
  await sleep(settleMs);
  const taken: Record<string, number[]> = {};
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(1_000);
    for (const [name, { pid }] of Object.entries(processes)) (taken[name] ??= []).push(rssKiB(pid));
  }
  const out: Record<string, AfterGc> = {};
  for (const [name, p] of Object.entries(processes)) {
    const reported = /soak-memory (\{.*\})/.exec(p.output().slice(seen[name]))?.[1];
    const parsed = reported ? (JSON.parse(reported) as Record<string, number>) : {};
    out[name] = {
      rssKiB: median(taken[name]!),
      heapUsed: parsed.heapUsed ?? NaN,
      newSpace: parsed.newSpace ?? NaN,
    };
  }
  return out;
}
