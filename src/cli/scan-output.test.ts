import { describe, expect, it } from "vitest";
import { artifactOf, toSarif } from "./scan-output.js";
import { noneSkipped } from "./scan-sources.js";

describe("SARIF locations", () => {
  it("names a path under the checkout relative to %SRCROOT%, URI-encoded", () => {
    expect(artifactOf("config/a b#1.env")).toEqual({
      uri: "config/a%20b%231.env",
      uriBaseId: "%SRCROOT%",
    });
    expect(artifactOf("/tmp/x y/k.txt")).toEqual({ uri: "file:///tmp/x%20y/k.txt" });
    expect(artifactOf("-")).toEqual({ uri: "stdin" });
  });

  it("spans the whole key in the region, whatever its brand", () => {
    const finding = {
      path: "a.txt",
      line: 3,
      column: 5,
      prefix: "bdk_live_Abc",
      environment: "live" as const,
      fingerprint: "f".repeat(64),
    };
    const sarif = toSarif(
      { findings: [finding], scanned: 1, skipped: noneSkipped(), baselined: 0 },
      "1.0.0",
    ) as any;
    const region = sarif.runs[0].results[0].locations[0].physicalLocation.region;
    // bdk_live_ (9) + 49
    expect(region).toEqual({ startLine: 3, startColumn: 5, endLine: 3, endColumn: 5 + 58 });
  });
});
