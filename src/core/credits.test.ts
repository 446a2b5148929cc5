import { describe, expect, it } from "vitest";
import { balanceAt, nextRefill, periodStart } from "./credits.js";

const at = (iso: string) => Date.parse(iso);

describe("credit refill periods", () => {
  it("starts days and months at UTC midnight", () => {
    expect(periodStart("daily", at("2026-03-31T23:59:59.999Z"))).toBe(at("2026-03-31T00:00:00Z"));
    expect(periodStart("monthly", at("2026-03-31T23:59:59.999Z"))).toBe(at("2026-03-01T00:00:00Z"));
    expect(nextRefill("daily", at("2026-12-31T10:00:00Z"))).toBe(at("2027-01-01T00:00:00Z"));
    expect(nextRefill("monthly", at("2026-12-31T10:00:00Z"))).toBe(at("2027-01-01T00:00:00Z"));
  });

  it("refills a balance once a new period has begun, and only then", () => {
    const refill = { amount: 100, interval: "daily" as const };
    const stored = { remaining: 3, period: at("2026-03-01T00:00:00Z") };
    expect(balanceAt(stored, refill, at("2026-03-01T23:00:00Z"))).toBe(stored);
    expect(balanceAt(stored, refill, at("2026-03-02T00:00:00Z"))).toEqual({
      remaining: 100,
      period: at("2026-03-02T00:00:00Z"),
    });
    expect(balanceAt(stored, null, at("2026-04-02T00:00:00Z"))).toBe(stored);
  });
});
