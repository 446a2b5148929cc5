import type { FastifyInstance } from "fastify";
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
    async (request) => {
      const principal = principalOf(request);
      // The caller's own events; staff see everyone's (unless they ask for their own).
      const everyone = principal.scopes.has(ADMIN_SCOPE) && request.query.all !== "false";
      const { limit, before, event } = request.query;
      const events = await services.audit.list({
        userId: everyone ? null : principal.user.id,
        limit,
        before,
        event,
      });
      return {
        events: events.map(toAuditEntry),
        next_before: events.length === limit ? events[events.length - 1]!.id : null,
      };
    },
  );
}
