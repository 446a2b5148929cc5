import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import {
  GATE_EVENT_LOOP,
  GATE_FREE,
  GATE_WORKER,
  WORKER_GATE_SOURCE,
  WriteGate,
} from "./write-gate.js";

/** A worker that runs the gate's worker side: `hold` takes it for `ms`, `try` reports whether it got it. */
const SCRIPT = `
const { parentPort, workerData } = require("node:worker_threads");
${WORKER_GATE_SOURCE}
const cells = new Int32Array(workerData.gate);
const sleep = new Int32Array(new SharedArrayBuffer(4));
parentPort.on("message", ({ op, ms }) => {
  if (op === "hold") {
    enterGate(cells, 5000);
    parentPort.postMessage("held");
    Atomics.wait(sleep, 0, 0, ms);
    leaveGate(cells);
    parentPort.postMessage("left");
  } else {
    const got = enterGate(cells, ms);
    if (got) leaveGate(cells);
    parentPort.postMessage(got ? "got" : "timed-out");
  }
});
`;

let worker: Worker | null = null;
afterEach(async () => {
  await worker?.terminate();
  worker = null;
});

function start(gate: WriteGate): { send(op: string, ms: number): void; next(): Promise<string> } {
  worker = new Worker(SCRIPT, { eval: true, workerData: { gate: gate.shared } });
  const queue: string[] = [];
  const waiting: ((message: string) => void)[] = [];
  worker.on("message", (message: string) => {
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  return {
    send: (op, ms) => worker!.postMessage({ op, ms }),
    next: () =>
      queue.length > 0
        ? Promise.resolve(queue.shift()!)
        : new Promise((resolve) => waiting.push(resolve)),
  };
}

describe("WriteGate", () => {
  it("lets the event loop run while one of its writers waits for the worker", async () => {
    const gate = new WriteGate();
    const thread = start(gate);
    thread.send("hold", 150);
    expect(await thread.next()).toBe("held");
    expect(gate.holder).toBe(GATE_WORKER);

    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 5);
    const started = performance.now();
    const acquired = await gate.acquire(5000);
    const waited = performance.now() - started;
    clearInterval(timer);

    expect(acquired).toBe(true);
    expect(gate.holder).toBe(GATE_EVENT_LOOP);
    expect(await thread.next()).toBe("left");
    // It waited for the worker, and timers kept firing meanwhile (a blocking wait fires none).
    expect(waited).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThan(5);
    gate.release();
    expect(gate.holder).toBe(GATE_FREE);
  });

  it("keeps the worker out while the event loop holds it, and lets it in once released", async () => {
    const gate = new WriteGate();
    const thread = start(gate);
    expect(await gate.acquire(100)).toBe(true);
    thread.send("try", 100);
    expect(await thread.next()).toBe("timed-out");
    gate.release();
    thread.send("try", 1000);
    expect(await thread.next()).toBe("got");
  });

  it("gives up after its timeout, and a release by the side that does not hold it is ignored", async () => {
    const gate = new WriteGate();
    const thread = start(gate);
    thread.send("hold", 300);
    expect(await thread.next()).toBe("held");
    gate.release(); // the event loop does not hold it: nothing happens
    expect(gate.holder).toBe(GATE_WORKER);
    expect(await gate.acquire(50)).toBe(false);
    expect(await thread.next()).toBe("left");
    expect(await gate.acquire(50)).toBe(true);
    gate.release();
  });
});
