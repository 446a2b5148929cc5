import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // One module cache per worker, not per file: the server's modules are imported once per
    // worker instead of once per test file (about two thirds of the import time). Files share
    // no state: each starts its own servers, and no test mocks modules or stubs globals.
    isolate: false,
    // Vitest's default (one worker per core, less one) is a single worker on a 2-core machine,
    // where most files spend their time waiting on sockets, child processes and Chromium: two
    // workers there, one per core elsewhere less one as before.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    globalSetup: ["test/helpers/global-setup.ts"],
    // The JSON report lets CI print a plain "N passed, N failed" closing line.
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }]],
  },
});
