import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { toAuditEntry } from "../../api/mappers.js";
import { AuditList, AuditQuery, ErrorBody } from "../../api/schemas.js";
import { ADMIN_SCOPE } from "../../core/scopes.js";
import type { Services } from "../../services/index.js";
import { principalOf } from "../request.js";

export function auditRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.get(
    "/v1/audit-log",
    {
      config: { auth: "any", scopes: ["audit:read"] },
      schema: {
        tags: ["audit"],
        security: [{ bearer: [] }],
        querystring: AuditQuery,
        response: { 200: AuditList, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      // The caller's own events; staff see everyone's (unless they ask for their own).
      const everyone = principal.scopes.has(ADMIN_SCOPE) && request.query.all !== "false";
      const { limit, before, event, format } = request.query;
      const events = await services.audit.list({
        userId: everyone ? null : principal.user.id,
        limit,
        before,
        event,
      });
      const next = events.length === limit ? events[events.length - 1]!.id : null;
      if (format !== "ndjson") return { events: events.map(toAuditEntry), next_before: next };
      if (next !== null) {
        const query = new URLSearchParams();
        for (const [name, value] of Object.entries({ ...request.query, before: next }))
          if (value !== undefined) query.set(name, String(value));
        reply.header("x-next-before", String(next));
        reply.header("link", `</v1/audit-log?${query}>; rel="next"`);
      }
      const lines = events.map((entry) => `${JSON.stringify(toAuditEntry(entry))}\n`);
      return sendText(reply, "application/x-ndjson; charset=utf-8", lines.join(""));
    },
  );
}

/**
 * Sends `text` as written, under `type`, past the route's response schema (which documents
 * the JSON form): Fastify would otherwise JSON-quote it, the type's name holding "json".
 */
function sendText(reply: FastifyReply, type: string, text: string): FastifyReply {
  return reply
    .type(type)
    .serializer((payload: string) => payload)
    .send(text);
}
