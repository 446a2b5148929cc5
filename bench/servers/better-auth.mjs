/* global process, Buffer */
/**
 * Case f: Better Auth with its API-key plugin on SQLite — the peer a TypeScript team would
 * pick instead. A plain node:http route verifies `x-api-key` (or `Authorization: Bearer`)
 * with a required permission through `auth.api.verifyApiKey` and answers JSON, as a
 * platform service would. Plain JavaScript because better-auth is a bench-only dependency
 * (bench/package.json) that the root typecheck must not need.
 *
 * Env: BENCH_DIR (a private temp dir for the database), BENCH_KEYS (keys to create).
 * Sends `{ keys: [...] }` to the parent over IPC, then prints `listening <url>`.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { join } from "node:path";
import { apiKey } from "@better-auth/api-key";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";

const dir = process.env.BENCH_DIR;
if (!dir) throw new Error("BENCH_DIR is required");
const keyCount = Number(process.env.BENCH_KEYS ?? "100");

const sqlite = new Database(join(dir, "better-auth.db"));
// WAL, as Latchkey runs SQLite: the more generous setting for a write per verification.
sqlite.pragma("journal_mode = WAL");

const server = createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
const address = server.address();
const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;

const auth = betterAuth({
  baseURL: url,
  secret: randomBytes(32).toString("hex"),
  database: sqlite,
  emailAndPassword: { enabled: true },
  telemetry: { enabled: false },
  logger: { level: "error" },
  plugins: [
    apiKey({
      // Per key and minute like Latchkey's limit, set high enough never to refuse in the run.
      rateLimit: { enabled: true, timeWindow: 60_000, maxRequests: 1_000_000_000 },
    }),
  ],
});

const { runMigrations } = await getMigrations(auth.options);
await runMigrations();

const { user } = await auth.api.signUpEmail({
  body: {
    email: "bench@example.test",
    password: randomBytes(18).toString("base64url"),
    name: "bench",
  },
});
const keys = [];
for (let i = 0; i < keyCount; i++) {
  const created = await auth.api.createApiKey({
    body: { userId: user.id, name: `bench-${i}`, permissions: { services: ["read", "write"] } },
  });
  keys.push(created.key);
}

function presentedKey(request) {
  const header = request.headers["x-api-key"];
  if (typeof header === "string") return header;
  const bearer = /^Bearer +(\S+)$/i.exec(request.headers.authorization ?? "");
  return bearer ? bearer[1] : null;
}

function send(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}

server.on("request", (request, response) => {
  request.resume();
  const key = presentedKey(request);
  if (!key) return send(response, 401, { error: { code: "unauthenticated" } });
  auth.api
    .verifyApiKey({ body: { key, permissions: { services: ["read"] } } })
    .then((result) => {
      if (!result.valid) return send(response, 401, { error: result.error });
      send(response, 200, {
        valid: true,
        key_id: result.key.id,
        owner_id: result.key.referenceId ?? result.key.userId,
        permissions: result.key.permissions,
      });
    })
    .catch(() => send(response, 500, { error: { code: "internal" } }));
});

process.send?.({ keys });
process.stdout.write(`listening ${url}\n`);
process.once("SIGTERM", () => server.close(() => process.exit(0)));
