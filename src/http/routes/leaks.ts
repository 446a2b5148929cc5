import { LatchkeyError } from "../../core/errors.js";
import { roleCan } from "../../core/org-roles.js";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { LeakPolicy, LeakReceipt, LeakReportBody } from "../../api/leaks.js";
import { ErrorBody } from "../../api/schemas.js";
import { actorOf } from "../../core/actor.js";
import { hasAll } from "../../core/scopes.js";
import type { Services } from "../../services/index.js";
import type { Reporter } from "../../services/leaks/leaks.js";
import { authenticate } from "../auth.js";
import { callerOf, principalOf } from "../request.js";
import { stepUp } from "../step-up.js";

const REPORT_SCOPES = ["keys:report"];

/**
 * Who is reporting. No credential is needed; one that is presented must be valid (a wrong
 * one answers 401 as on any route, which says nothing about the keys reported).
 */
async function reporterOf(services: Services, request: FastifyRequest): Promise<Reporter> {
  const principal = await authenticate(services, request);
  if (!principal) return { actor: null, ip: request.ip, seesOutcomes: false };
  // Counted in the key's usage like any authenticated call (the auth hook's onResponse).
  request.principal = principal;
  return {
    actor: actorOf({ keyId: principal.key?.id, sessionId: principal.sessionId }),
    ip: request.ip,
    seesOutcomes: hasAll(principal.scopes, REPORT_SCOPES),
  };
}

/**
 * SPEC §11: `POST /v1/keys/leaks`. Anyone may report keys seen in public (per-address limits);
 * real, active ones are revoked on every instance. The answer is 202 `{received}` for
 * everyone, whatever the keys were; a caller with `keys:report` also gets each key's outcome.
 */
export function leakRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.post(
    "/v1/keys/leaks",
    {
      // Public: the route authenticates an optional credential itself (reporterOf).
      config: { auth: "public" },
      schema: {
        tags: ["api-keys"],
        summary: "report keys seen in public: real ones are revoked at once",
        security: [{}, { bearer: [] }],
        body: LeakReportBody,
        response: { 202: LeakReceipt, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const reporter = await reporterOf(services, request);
      await services.leaks.admit(reporter);
      const { keys } = request.body;
      const results = await services.leaks.report(keys, reporter);
      reply.header("cache-control", "no-store");
      return reply
        .status(202)
        .send(
          reporter.seesOutcomes ? { received: keys.length, results } : { received: keys.length },
        );
    },
  );

  app.get(
    "/v1/keys/leaks/policy",
    {
      config: { auth: "any", scopes: ["keys:read"], orgContext: true },
      schema: {
        tags: ["api-keys"],
        summary:
          "what a leak report does to your keys (an organization's with Latchkey-Org): revoke (default) or quarantine",
        security: [{ bearer: [] }],
        response: { 200: LeakPolicy, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request) => ({ policy: await services.leaks.policy(principalOf(request).user.id) }),
  );

  app.put(
    "/v1/keys/leaks/policy",
    {
      config: { auth: "session", orgContext: true },
      preHandler: stepUp(services, "changing the leak policy"),
      schema: {
        tags: ["api-keys"],
        summary:
          "choose revoke or quarantine for your reported keys (step-up; an organization's: its owners and admins, with Latchkey-Org)",
        security: [{ bearer: [] }],
        body: LeakPolicy,
        response: { 200: LeakPolicy, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      if (caller.member && !roleCan(caller.member.role, "configure"))
        throw new LatchkeyError(
          "forbidden",
          `a ${caller.member.role} cannot change the organization's leak policy`,
        );
      const policy = await services.leaks.setPolicy(
        { userId: caller.user.id, actor: caller.actor, ip: caller.ip },
        request.body.policy,
      );
      return { policy };
    },
  );
}
