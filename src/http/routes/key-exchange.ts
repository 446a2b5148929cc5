import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { ExchangeBody, ExchangeResponse, type ExchangeResponseT } from "../../api/exchange.js";
import { ErrorBody } from "../../api/schemas.js";
import type { Services } from "../../services/index.js";
import type { Exchanged } from "../../services/keys/exchange.js";
import { principalOf } from "../request.js";

/**
 * `POST /v1/keys/exchange`: the bearer API key buys a JWT of at most 15 minutes, with its
 * scopes narrowed on request, that the platform's services verify offline against the JWKS.
 * The key is checked as on any key route (revoked, disabled, expired, address, rate limit)
 * and the exchange is counted in its usage and activity like any other call made with it.
 * Not with a session, nor with a token itself exchanged (`forbidden`).
 */
export function keyExchangeRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.post(
    "/v1/keys/exchange",
    {
      config: { auth: "any", exchangedTokens: false },
      schema: {
        tags: ["api-keys"],
        summary: "Exchange the bearer API key for a short-lived access token (JWT, ≤ 15 min)",
        security: [{ bearer: [] }],
        body: ExchangeBody.optional(),
        response: {
          200: ExchangeResponse,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const exchanged = await services.keyExchange.exchange(
        principalOf(request),
        request.body ?? {},
      );
      reply.header("cache-control", "no-store");
      return toExchangeResponse(exchanged);
    },
  );
}

export function toExchangeResponse(exchanged: Exchanged): ExchangeResponseT {
  return {
    access_token: exchanged.token,
    token_type: "Bearer",
    issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
    expires_in: exchanged.expiresIn,
    expires_at: new Date(exchanged.expiresAt).toISOString(),
    scope: exchanged.scopes.join(" "),
    scopes: exchanged.scopes,
    key_id: exchanged.keyId,
    owner_id: exchanged.ownerId,
    environment: exchanged.environment,
    project_id: exchanged.projectId,
  };
}
