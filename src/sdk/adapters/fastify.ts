import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import type { Principal, Verifier } from "../verifier.js";
import { bearerFrom, denial } from "./common.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by `requireScopes` once Latchkey vouched for the caller. */
    latchkey?: Principal;
  }
}

export interface FastifyGuardOptions {
  /** The project a request is for, e.g. from its params; project-bound keys must match. */
  projectId?: (request: FastifyRequest) => string | undefined;
}

export interface FastifyGuard {
  /** A `preHandler` that admits a request only with every one of `scopes`. */
  requireScopes(...scopes: string[]): preHandlerAsyncHookHandler;
}

/**
 * Fastify adapter: `{ preHandler: guard.requireScopes("services:read") }` on a route.
 * Refusals are 401/403/429 with the spec's error JSON; admitted requests carry
 * `request.latchkey` (the principal and its effective scopes).
 */
export function fastifyGuard(verifier: Verifier, options: FastifyGuardOptions = {}): FastifyGuard {
  return {
    requireScopes(...scopes) {
      return async function requireScopes(request: FastifyRequest, reply: FastifyReply) {
        const credential = bearerFrom(request.headers.authorization);
        const result = await verifier.verify(credential, {
          scopes,
          projectId: options.projectId?.(request),
          endpoint: `${request.method} ${request.routeOptions.url ?? request.url.split("?")[0]}`,
          ip: request.ip,
        });
        if (result.valid) {
          request.latchkey = result.principal;
          return;
        }
        const { status, headers, body } = denial(result, request.id);
        await reply.status(status).headers(headers).send(body);
      };
    },
  };
}
