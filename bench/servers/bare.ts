/**
 * Case a: bare `node:http` answering `{}` — the ceiling for any Node service on this machine.
 * Run as its own process; prints `listening <url>` once ready.
 */
import { createServer } from "node:http";

const body = "{}";
const server = createServer((_request, response) => {
  response.writeHead(200, { "content-type": "application/json", "content-length": body.length });
  response.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`listening http://127.0.0.1:${port}\n`);
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
