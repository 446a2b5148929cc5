import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { lazyRequestLogger } from "./request-logger.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: pino({ level: "info" }, stream) };
}

describe("lazyRequestLogger", () => {
  it("makes no child until a line at an enabled level is written, then binds the request id", async () => {
    const { lines, logger } = capture();
    let children = 0;
    const child = logger.child.bind(logger);
    logger.child = ((...args: Parameters<typeof child>) => {
      children += 1;
      return child(...args);
    }) as typeof logger.child;
    const log = lazyRequestLogger(logger, { reqId: "req_1" }, {});
    log.debug("not at info");
    log.trace({ x: 1 }, "nor this");
    expect(children).toBe(0);
    expect(log.level).toBe("info");
    log.warn({ route: "/x" }, "something");
    log.error("again");
    expect(children).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((l) => [l.reqId, l.msg, l.route])).toEqual([
      ["req_1", "something", "/x"],
      ["req_1", "again", undefined],
    ]);
  });
});
