// Preloaded into the soak test's servers (`node --import`): on SIGUSR2 a full garbage
// collection, then one line on stderr with the process's memory after it, so the test reads
// each server's footprint without the garbage of the moment. Test instrumentation only; the
// server itself has no such hook.
import process from "node:process";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");
process.on("SIGUSR2", () => {
  gc();
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
  const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
  const line = { rss, heapUsed, heapTotal, external, newSpace: young ? young.space_size : 0 };
  process.stderr.write(`soak-memory ${JSON.stringify(line)}\n`);
});
