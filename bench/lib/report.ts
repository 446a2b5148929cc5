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
    "by thread",
    "requests",
    "errors",
  ];
  const rows = cases.map((c) =>
    c.skipped
      ? [c.id, c.title, "—", "—", "—", "—", "—", "—", c.skipped]
      : [
          c.id,
          c.title,
          fmt(c.rps),
          fmt(c.p50_ms, 2),
          fmt(c.p99_ms, 2),
          c.server_cpu_us === undefined ? "—" : fmt(c.server_cpu_us, 1),
          c.thread_cpu_us || "—",
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

/** p99(b) ≤ max(5 ms, 2 × p99(a)): bare Node's own p99 is the floor of what can be measured. */
function p99Target(b: CaseResult | undefined, a: CaseResult | undefined): Target {
  const name = "verify p99";
  const rule = "p99(b) ≤ max(5 ms, 2 × p99(a))";
  if (!b || !a) return { name, rule, value: "not measured", pass: null };
  const bound = Math.max(5, 2 * a.p99_ms);
  return {
    name,
    rule,
    value: `${fmt(b.p99_ms, 2)} ms (bound ${fmt(bound, 2)} ms)`,
    pass: b.p99_ms <= bound,
  };
}

/** How close b, c and e come to the floors below them (no target: Node's and Fastify's own). */
export function floors(byId: Map<string, CaseResult>): string[] {
  const lines: string[] = [];
  for (const [id, of, what] of [
    ["a-post", "b", "bare node:http with b's request shape"],
    ["z", "b", "bare Fastify with b's request shape"],
    ["z-get", "c", "bare Fastify GET with c's request shape"],
    ["z-get", "e", "bare Fastify GET with a bearer key"],
  ] as const) {
    const b = byId.get(of);
    const floor = byId.get(id);
    if (!b || !floor || b.skipped || floor.skipped || !b.server_cpu_us || !floor.server_cpu_us)
      continue;
    lines.push(
      `${of} vs ${id} (${what}): ${fmt(b.rps / floor.rps, 2)} × req/s, ${fmt(b.server_cpu_us, 1)} vs ${fmt(floor.server_cpu_us, 1)} server CPU µs/req`,
    );
  }
  return lines;
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
    ratio("SDK guard (cache warm, counting usage) vs bare node:http", "e", "a", 0.8),
    p99Target(b, ok("a")),
    ratio("scale SQLite 1k → 1M", "b-1m", "b", 0.9),
    ratio("scale PostgreSQL 1k → 1M", "pg-1m", "pg-1k", 0.9),
    ratio("isolation: verify during 20 logins", "iso", "b", 0.8),
    ratio("verify with credits and a named limit vs plain verify", "b-lim", "b", 0.95),
    ratio("verify of organization keys with every policy vs personal keys", "b-org", "b", 0.9),
  ];
}
