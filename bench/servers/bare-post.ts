/**
 * Case a-post: bare `node:http` reading a JSON POST body, parsing it, hashing `key` once and
 * answering an object the size of a verify answer — what Node itself costs for b's request
 * shape, before any framework. Run as its own process; prints `listening <url>` once ready.
 */
import { hash } from "node:crypto";
import { createServer } from "node:http";

const server = createServer((request, response) => {
  let text = "";
  request.setEncoding("utf8");
  request.on("data", (chunk: string) => (text += chunk));
  request.on("end", () => {
    const { key } = JSON.parse(text) as { key: string };
    const body = JSON.stringify({
      valid: true,
      code: "valid",
      key_id: `key_${hash("sha256", key, "hex").slice(0, 26)}`,
      owner_id: "usr_01HZXW3T5M8Q2R7V9B4C6D1E0F",
      environment: "live",
      scopes: ["services:read"],
      project_id: null,
      expires_at: null,
      ratelimit: { limit: 1_000_000_000, remaining: 999_999_999, reset: Date.now() + 60_000 },
    });
    response.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    response.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`listening http://127.0.0.1:${port}\n`);
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
