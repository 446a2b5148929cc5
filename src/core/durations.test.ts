import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./durations.js";

it("parses the durations users write", () => {
  expect(parseDuration("30d")).toBe(30 * 86_400_000);
  expect(parseDuration("90d")).toBe(90 * 86_400_000);
  expect(parseDuration("24h")).toBe(86_400_000);
  expect(parseDuration("1y")).toBe(365 * 86_400_000);
  expect(parseDuration("15m")).toBe(900_000);
  expect(parseDuration("2w")).toBe(14 * 86_400_000);
});

it("refuses anything else", () => {
  for (const text of ["", "0d", "-1d", "1.5d", "d", "10", "10 days", "1x", "999999999d", "101y"]) {
    expect(parseDuration(text)).toBeNull();
  }
});

describe("formatDuration", () => {
  it("writes the largest exact unit, which parseDuration reads back", () => {
    for (const text of ["90d", "36h", "2w", "1y", "45s", "15m"])
      expect(formatDuration(parseDuration(text)!)).toBe(text);
    expect(formatDuration(1500)).toBe("2s");
  });
});
