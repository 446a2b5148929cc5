import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { VerifyBody, VerifyResponse, type VerifyBodyT } from "../../api/keys.js";
import { toLease, toVerifyResponse } from "../../api/mappers.js";
import { ErrorBody } from "../../api/schemas.js";
import type { Services } from "../../services/index.js";
import type { Principal } from "../auth.js";
import { fastSerializerCompiler, fastValidatorCompiler } from "../compiled.js";
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
      // The hot path: compiled validation and serialisation from the same zod schemas.
      validatorCompiler: fastValidatorCompiler,
      serializerCompiler: fastSerializerCompiler,
      schema: {
        tags: ["api-keys"],
        security: [{ bearer: [] }],
        body: VerifyBody,
        response: { 200: VerifyResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    // Not async: a key answered from memory is sent in this turn, with no promise.
    (request) => {
      const principal = principalOf(request);
      if (request.body.lease !== undefined) return withLease(services, request.body, principal);
      return services.keyVerifier.verify(
        request.body,
        principal.key?.id ?? principal.user.id,
        toVerifyResponse,
      );
    },
  );
}

/** The answer with a rate-limit lease for the caller's cached hits (keys/lease.ts). */
async function withLease(services: Services, body: VerifyBodyT, principal: Principal) {
  const { answer, result } = await services.keyVerifier.verify(
    body,
    principal.key?.id ?? principal.user.id,
    (result) => ({ answer: toVerifyResponse(result), result }),
  );
  return { ...answer, lease: toLease(await services.keyLeases.grant(result, body.lease ?? 0)) };
}
