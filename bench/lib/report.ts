import type { LoadResult } from "./load.js";

export interface CaseResult extends LoadResult {
  id: string;
  title: string;
  /** Set when the case could not run (e.g. the example does not exist yet). */
  skipped?: string;
  /** Server CPU microseconds per answered request. */
  server_cpu_us?: number;
  /** Server CPU µs per request by thread (main, worker and pool threads), e.g. "main 98.1, node 12.0". */
  thread_cpu_us?: string;
  extra?: Record<string, unknown>;
}

export interface Target {
  name: string;
  rule: string;
  value: string;
  pass: boolean | null;
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function table(cases: CaseResult[]): string {
  const head = [
    "case",
    "what",
    "req/s",
    "p50 ms",
    "p99 ms",
    "server CPU µs/req",
    "requests",
    "errors",
  ];
  const rows = cases.map((c) =>
    c.skipped
      ? [c.id, c.title, "—", "—", "—", "—", "—", c.skipped]
      : [
          c.id,
          c.title,
          fmt(c.rps),
          fmt(c.p50_ms, 2),
          fmt(c.p99_ms, 2),
          c.server_cpu_us === undefined ? "—" : fmt(c.server_cpu_us, 1),
          fmt(c.requests),
          String(c.errors),
        ],
  );
  return markdown(head, rows);
}

export function targetTable(targets: Target[]): string {
  return markdown(
    ["target", "rule", "measured", "result"],
    targets.map((t) => [
      t.name,
      t.rule,
      t.value,
      t.pass === null ? "n/a" : t.pass ? "PASS" : "FAIL",
    ]),
  );
}

function markdown(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    line(head),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

/** The targets, as ratios measured in the same run. */
export function targets(byId: Map<string, CaseResult>): Target[] {
  const ok = (id: string) => {
    const c = byId.get(id);
    return c && !c.skipped && c.errors === 0 ? c : undefined;
  };
  const ratio = (name: string, x: string, y: string, min: number): Target => {
    const a = ok(x);
    const b = ok(y);
    if (!a || !b) return { name, rule: `${x} ≥ ${min} × ${y}`, value: "not measured", pass: null };
    const r = a.rps / b.rps;
    return {
      name,
      rule: `${x} ≥ ${min} × ${y}`,
      value: `${fmt(r, 2)} × (${fmt(a.rps)} / ${fmt(b.rps)})`,
      pass: r >= min,
    };
  };
  const b = ok("b");
  return [
    ratio("Latchkey verify vs Better Auth", "b", "f", 15),
    ratio("verify vs bare node:http", "b", "a", 0.6),
    ratio("bearer API key vs bare node:http", "c", "a", 0.6),
    b
      ? {
          name: "verify p99",
          rule: "p99(b) < 5 ms",
          value: `${fmt(b.p99_ms, 2)} ms`,
          pass: b.p99_ms < 5,
        }
      : { name: "verify p99", rule: "p99(b) < 5 ms", value: "not measured", pass: null },
    ratio("scale SQLite 1k → 1M", "b-1m", "b", 0.9),
    ratio("scale PostgreSQL 1k → 1M", "pg-1m", "pg-1k", 0.9),
    ratio("isolation: verify during 20 logins", "iso", "b", 0.8),
  ];
}
