import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { VerifyBody, VerifyResponse } from "../../api/keys.js";
import { toVerifyResponse } from "../../api/mappers.js";
import { ErrorBody } from "../../api/schemas.js";
import type { Services } from "../../services/index.js";
import { principalOf } from "../request.js";

/**
 * `POST /v1/keys/verify` for the platform's services: always 200 with `valid` and a `code`.
 * `keys:verify` is a service privilege (staff and staff-designated service accounts), never
 * a tenant's: otherwise any user could probe, and fill the activity of, anyone's key.
 * The calling service's own credential does not spend a rate limit here: it verifies on
 * behalf of many users; the verified key spends its own.
 */
export function verifyRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.post(
    "/v1/keys/verify",
    {
      config: { auth: "any", scopes: ["keys:verify"], keyRateLimit: false },
      schema: {
        tags: ["api-keys"],
        security: [{ bearer: [] }],
        body: VerifyBody,
        response: { 200: VerifyResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return services.keyVerifier.verify(
        request.body,
        principal.key?.id ?? principal.user.id,
        toVerifyResponse,
      );
    },
  );
}
