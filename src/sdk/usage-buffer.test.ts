import { describe, expect, it } from "vitest";
import { HitBuffer, type Hit } from "./usage-buffer.js";

const T0 = Date.UTC(2026, 0, 1);
const hit = (extra: Partial<Hit> = {}): Hit => ({
  keyId: "key_a",
  endpoint: "GET /a",
  outcome: "valid",
  at: T0,
  ...extra,
});

describe("HitBuffer", () => {
  it("aggregates hits per key, endpoint, project, address and outcome, with first and last", () => {
    const buffer = new HitBuffer();
    buffer.add(hit({ at: T0 + 5 }));
    buffer.add(hit({ at: T0 }));
    buffer.add(hit({ at: T0 + 9 }), 3);
    buffer.add(hit({ ip: "203.0.113.9" }));
    buffer.add(hit({ projectId: "prj_1", outcome: "scope_insufficient" }));
    buffer.add(hit({ keyId: "key_b" }));
    expect(buffer.size).toBe(4);
    const entries = buffer.take(100);
    expect(entries).toContainEqual({
      key_id: "key_a",
      count: 5,
      endpoint: "GET /a",
      project_id: undefined,
      ip: undefined,
      outcome: "valid",
      first_at: new Date(T0).toISOString(),
      last_at: new Date(T0 + 9).toISOString(),
    });
    expect(entries.map((e) => e.count).reduce((a, b) => a + b)).toBe(8);
    expect(buffer.size).toBe(0);
    expect(buffer.take(100)).toEqual([]);
  });

  it("hands out at most the asked number of entries and keeps the rest", () => {
    const buffer = new HitBuffer();
    for (let i = 0; i < 7; i++) buffer.add(hit({ endpoint: `GET /${i}` }));
    expect(buffer.take(5)).toHaveLength(5);
    expect(buffer.size).toBe(2);
    expect(buffer.take(5)).toHaveLength(2);
  });

  it("merges entries put back after a failed report, so no hit is counted twice or lost", () => {
    const buffer = new HitBuffer();
    buffer.add(hit(), 4);
    const failed = buffer.take(10);
    buffer.add(hit({ at: T0 + 1 }), 2);
    buffer.restore(failed);
    const [entry] = buffer.take(10);
    expect(entry).toMatchObject({ count: 6, last_at: new Date(T0 + 1).toISOString() });
  });

  it("stays bounded: folds new aggregates into their key's, then drops and says how many", () => {
    const buffer = new HitBuffer(10);
    for (let i = 0; i < 10; i++) buffer.add(hit({ endpoint: `GET /${i}` }));
    // Full: a new endpoint is counted in the key's aggregate without endpoint.
    expect(buffer.add(hit({ endpoint: "GET /new" }), 5)).toBe(true);
    expect(buffer.add(hit({ endpoint: "GET /newer" }))).toBe(true);
    expect(buffer.size).toBe(11);
    for (let k = 0; k < 5; k++) buffer.add(hit({ keyId: `key_${k}` }));
    expect(buffer.size).toBe(11);
    expect(buffer.dropped).toBe(5);
    const total = buffer.take(100).reduce((sum, e) => sum + e.count, 0);
    expect(total).toBe(10 + 5 + 1);
  });

  it("leaves out what the report would refuse: an over-long project id, a blank endpoint", () => {
    const buffer = new HitBuffer();
    buffer.add(hit({ projectId: "p".repeat(101), endpoint: "  " }));
    buffer.add(hit({ endpoint: "x".repeat(300) }));
    const entries = buffer.take(10);
    expect(entries.map((e) => [e.project_id, e.endpoint?.length])).toEqual([
      [undefined, undefined],
      [undefined, 200],
    ]);
  });
});
