import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import { ErrorBody } from "../../api/schemas.js";
import { LatchkeyError } from "../../core/errors.js";
import type { BusEvent } from "../../infra/bus.js";
import type { Services } from "../../services/index.js";
import { principalOf } from "../request.js";

const HEARTBEAT_MS = 15_000;
const MAX_STREAMS = 1000;
/** A subscriber this far behind is not reading: drop it rather than buffer without bound. */
const MAX_BUFFERED = 1 << 20;
/** Enough of SHA-256(key) for a verifier to find its cache entry; useless for anything else. */
export const KEY_HASH_PREFIX_LENGTH = 16;

/**
 * The SSE frame for a bus event, or null for events a service has no use for. Carries ids
 * and a short hash prefix only — never a key, a token or a full hash.
 */
export function revocationFrame(event: BusEvent): string | null {
  let data: Record<string, unknown>;
  switch (event.type) {
    case "key_changed":
      data = {
        key_id: event.keyId,
        key_hash_prefix: event.keyHash.slice(0, KEY_HASH_PREFIX_LENGTH),
        revoked: event.revoked,
      };
      break;
    case "session_ended":
      data = { session_id: event.sessionId };
      break;
    case "user_changed":
      data = { user_id: event.userId };
      break;
    default:
      return null;
  }
  return `event: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * `GET /v1/keys/revocations`: a Server-Sent Events stream of key, session and user changes,
 * so a service's verifier drops cached answers as soon as a key is revoked or narrowed
 * (on any instance: the bus carries other instances' events through Redis).
 */
export function revocationRoutes(app: FastifyInstance, services: Services): void {
  const open = new Set<ServerResponse>();

  app.addHook("preClose", async () => {
    // Fastify waits for open connections on close; an SSE stream never finishes by itself.
    for (const stream of open) stream.end();
    open.clear();
  });

  app.get(
    "/v1/keys/revocations",
    {
      config: { auth: "any", scopes: ["keys:verify"] },
      schema: {
        tags: ["api-keys"],
        security: [{ bearer: [] }],
        description:
          "Server-Sent Events: `key_changed` {key_id, key_hash_prefix, revoked}, " +
          "`session_ended` {session_id}, `user_changed` {user_id}; a comment every 15 s. " +
          "Send `Accept: text/event-stream`.",
        response: { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      // A stream never ends: only a client that asked for one (EventSource does) gets it.
      if (!String(request.headers.accept ?? "").includes("text/event-stream"))
        throw new LatchkeyError("invalid_request", "this endpoint streams Server-Sent Events", {
          details: [{ field: "accept", message: "must include text/event-stream" }],
        });
      if (open.size >= MAX_STREAMS)
        throw new LatchkeyError("rate_limited", "too many open revocation streams", {}, 5);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store, no-transform",
        "x-content-type-options": "nosniff",
        connection: "keep-alive",
        "x-accel-buffering": "no",
        "x-request-id": request.id,
      });
      open.add(res);

      const end = () => {
        unsubscribe();
        clearInterval(heartbeat);
        open.delete(res);
        if (!res.writableEnded) res.end();
      };
      const write = (chunk: string) => {
        if (res.writableEnded) return;
        if (res.writableLength > MAX_BUFFERED) return end();
        res.write(chunk);
      };
      const unsubscribe = services.ctx.bus.subscribe((event) => {
        const frame = revocationFrame(event);
        if (frame) write(frame);
        // The stream's own credential changed: end it, so the verifier re-authenticates.
        const own =
          (event.type === "key_changed" && event.keyId === principal.key?.id) ||
          (event.type === "session_ended" && event.sessionId === principal.sessionId) ||
          (event.type === "user_changed" && event.userId === principal.user.id);
        if (own) end();
      });
      const heartbeat = setInterval(() => write(": heartbeat\n\n"), HEARTBEAT_MS);
      heartbeat.unref();
      // The response's close covers both a client going away and our own end().
      res.on("close", end);
      write("retry: 1000\nevent: ready\ndata: {}\n\n");
    },
  );
}
