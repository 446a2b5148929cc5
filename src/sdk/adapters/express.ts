import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Principal, Verifier } from "../verifier.js";
import { bearerFrom, denial, requestIdFrom } from "./common.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `requireScopes` once Latchkey vouched for the caller. */
      latchkey?: Principal;
    }
  }
}

export interface ExpressGuardOptions {
  /** The project a request is for, e.g. from its params; project-bound keys must match. */
  projectId?: (request: Request) => string | undefined;
}

export interface ExpressGuard {
  /** Middleware that admits a request only with every one of `scopes`. */
  requireScopes(...scopes: string[]): RequestHandler;
}

/**
 * Express adapter: `app.get("/x", guard.requireScopes("services:read"), handler)`.
 * Refusals are 401/403/429 with the spec's error JSON; admitted requests carry
 * `req.latchkey` and `res.locals.latchkey`.
 */
export function expressGuard(verifier: Verifier, options: ExpressGuardOptions = {}): ExpressGuard {
  return {
    requireScopes(...scopes) {
      return function requireScopes(req: Request, res: Response, next: NextFunction) {
        const route = (req.route as { path?: string } | undefined)?.path ?? req.path;
        verifier
          .verify(bearerFrom(req.headers.authorization), {
            scopes,
            projectId: options.projectId?.(req),
            endpoint: `${req.method} ${req.baseUrl}${route}`,
            ip: req.ip,
          })
          .then((result) => {
            if (result.valid) {
              req.latchkey = result.principal;
              res.locals.latchkey = result.principal;
              return next();
            }
            const { status, headers, body } = denial(
              result,
              requestIdFrom(req.headers["x-request-id"]),
            );
            res.status(status).set(headers).json(body);
          })
          .catch(next);
      };
    },
  };
}
