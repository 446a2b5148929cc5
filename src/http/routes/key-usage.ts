import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { KeyUsageAccepted, KeyUsageReport } from "../../api/keys.js";
import { ErrorBody } from "../../api/schemas.js";
import type { Services } from "../../services/index.js";
import { principalOf } from "../request.js";

/**
 * `POST /v1/keys/usage`: a platform service's verifier reports the hits it answered from its
 * cache, aggregated, so they count in the keys' usage like verifications. Same privilege as
 * `POST /v1/keys/verify` (`keys:verify`), and like it the caller's own rate limit is not
 * spent: the hits spent the verified keys' own limits through leases.
 */
export function keyUsageRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.post(
    "/v1/keys/usage",
    {
      config: { auth: "any", scopes: ["keys:verify"], keyRateLimit: false },
      schema: {
        tags: ["api-keys"],
        summary: "Report cached hits of keys (for verifiers)",
        description:
          "Counts hits a verifier answered from its cache in the keys' usage, hourly buckets and activity (one activity row per entry, with its `count`). Entries for an unknown key, a revoked key, a key expired before the hits, or another project than the key's are ignored and counted in `ignored`.",
        security: [{ bearer: [] }],
        body: KeyUsageReport,
        response: { 200: KeyUsageAccepted, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return services.usageReports.report(
        request.body.uses,
        principal.key?.id ?? principal.user.id,
      );
    },
  );
}
