import type { Context, MiddlewareHandler } from "hono";
import type { Principal, Verifier } from "../verifier.js";
import { bearerFrom, denial, requestIdFrom } from "./common.js";

/** Hono context variables set by the guard: `c.get("latchkey")`. */
export interface LatchkeyVariables {
  latchkey: Principal;
}

export interface HonoGuardOptions {
  /** The project a request is for, e.g. from its params; project-bound keys must match. */
  projectId?: (c: Context) => string | undefined;
  /**
   * The caller's address, for keys with an `ip_allow` list. Default: the socket address
   * under `@hono/node-server`; elsewhere pass your platform's (e.g. a trusted header).
   */
  ip?: (c: Context) => string | undefined;
}

export interface HonoGuard {
  /** Middleware that admits a request only with every one of `scopes`. */
  requireScopes(...scopes: string[]): MiddlewareHandler<{ Variables: LatchkeyVariables }>;
}

function nodeSocketAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/**
 * Hono adapter: `app.get("/x", guard.requireScopes("services:read"), handler)`.
 * Refusals are 401/403/429 with the spec's error JSON; admitted requests carry
 * `c.get("latchkey")`.
 */
export function honoGuard(verifier: Verifier, options: HonoGuardOptions = {}): HonoGuard {
  const ipOf = options.ip ?? nodeSocketAddress;
  return {
    requireScopes(...scopes) {
      return async function requireScopes(c, next) {
        const result = await verifier.verify(bearerFrom(c.req.header("authorization")), {
          scopes,
          projectId: options.projectId?.(c),
          endpoint: `${c.req.method} ${c.req.routePath}`,
          ip: ipOf(c),
        });
        if (result.valid) {
          c.set("latchkey", result.principal);
          await next();
          return undefined;
        }
        const { status, headers, body } = denial(
          result,
          requestIdFrom(c.req.header("x-request-id")),
        );
        return c.json(body, status as 401 | 403 | 429 | 503, headers);
      };
    },
  };
}
