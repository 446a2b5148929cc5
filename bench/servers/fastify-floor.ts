/**
 * Cases z and z-get: the framework floor — a Fastify route doing what verification must do
 * at the least (z: parse a JSON body; z-get: read a bearer header; then one SHA-256 of the
 * key, one Map lookup, a JSON answer), with nothing else: no hooks, no logger, no
 * validation. What Latchkey's b (z), and c and the SDK guard e (z-get), can approach.
 * Run as its own process; prints `listening <url>` once ready.
 */
import { createHash } from "node:crypto";
import Fastify from "fastify";

const known = new Map<string, { id: string; owner: string }>();
const app = Fastify({ logger: false });
app.post("/v1/keys/verify", async (request) => {
  const { key } = request.body as { key: string };
  const hash = createHash("sha256").update(key).digest("hex");
  const hit = known.get(hash);
  return {
    valid: true,
    code: "valid",
    key_id: hit?.id ?? "key_01HZXW3T5M8Q2R7V9B4C6D1E0F",
    owner_id: hit?.owner ?? "usr_01HZXW3T5M8Q2R7V9B4C6D1E0F",
    environment: "live",
    project_id: null,
    scopes: ["services:read"],
    expires_at: null,
    ratelimit: { limit: 1000000000, remaining: 999999999, reset: Date.now() + 60000 },
  };
});
app.get("/v1/auth/whoami", async (request) => {
  const key = (request.headers.authorization ?? "").slice("Bearer ".length);
  const hash = createHash("sha256").update(key).digest("hex");
  const hit = known.get(hash);
  return {
    user_id: hit?.owner ?? "usr_01HZXW3T5M8Q2R7V9B4C6D1E0F",
    email: "ada@example.test",
    role: "developer",
    staff: false,
    plan: "free",
    credential: "api_key",
    key_id: hit?.id ?? "key_01HZXW3T5M8Q2R7V9B4C6D1E0F",
    environment: "live",
    scopes: ["services:read"],
  };
});
void app.listen({ port: 0, host: "127.0.0.1" }).then((url) => {
  process.stdout.write(`listening ${url}\n`);
});
process.once("SIGTERM", () => void app.close().then(() => process.exit(0)));
