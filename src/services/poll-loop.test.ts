import { describe, expect, it } from "vitest";
import { PollLoop } from "./poll-loop.js";

describe("PollLoop", () => {
  it("never runs two passes at once; a cycle asked for during a pass runs one more after it", async () => {
    let inside = 0;
    let most = 0;
    let passes = 0;
    let release: () => void = () => undefined;
    const loop = new PollLoop(
      async () => {
        inside += 1;
        most = Math.max(most, inside);
        passes += 1;
        if (passes === 1) await new Promise<void>((resolve) => (release = resolve));
        inside -= 1;
        return 1;
      },
      () => 60_000,
      () => undefined,
    );
    const first = loop.cycle();
    const second = loop.cycle();
    release();
    expect(await first).toBe(2);
    expect(await second).toBe(0);
    expect(most).toBe(1);
    expect(passes).toBe(2);
  });

  it("reports a failed pass and goes on; stops once the pass in flight is over", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const loop = new PollLoop(
      async () => {
        calls += 1;
        if (calls === 1) throw new Error("store down");
        return 0;
      },
      () => 5,
      (error) => errors.push(error),
    );
    expect(loop.started).toBe(false);
    loop.start();
    expect(loop.started).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await loop.stop();
    const after = calls;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(calls).toBe(after);
    expect(calls).toBeGreaterThan(1);
    expect(errors).toHaveLength(1);
  });
});
