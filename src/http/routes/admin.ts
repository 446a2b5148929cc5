import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { OwnerLimits, OwnerLimitsBody } from "../../api/keys.js";
import { toOwnerLimits, toPublicUser } from "../../api/mappers.js";
import {
  AdminUserList,
  AdminUserPatch,
  ErrorBody,
  IdParams,
  PageQuery,
  SessionsEnded,
  User,
} from "../../api/schemas.js";
import { ADMIN_SCOPE } from "../../core/scopes.js";
import type { Services } from "../../services/index.js";
import { actorOfRequest, principalOf } from "../request.js";

const admin = { auth: "any" as const, scopes: [ADMIN_SCOPE] };
const security = [{ bearer: [] }];

export function adminRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();

  app.get(
    "/v1/admin/users",
    {
      config: admin,
      schema: {
        tags: ["admin"],
        security,
        querystring: PageQuery,
        response: { 200: AdminUserList, 403: ErrorBody },
      },
    },
    async (request) => ({ users: (await services.users.list(request.query)).map(toPublicUser) }),
  );

  app.delete(
    "/v1/admin/users/:id/sessions",
    {
      config: admin,
      schema: {
        tags: ["admin"],
        summary: "Sign a user out everywhere: every session ends (API keys stay)",
        security,
        params: IdParams,
        response: { 200: SessionsEnded, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const ended = await services.users.endSessions(request.params.id, {
        actor: actorOfRequest(request),
        userId: principal.user.id,
        ip: request.ip,
      });
      return { sessions_ended: ended };
    },
  );

  app.patch(
    "/v1/admin/users/:id",
    {
      config: admin,
      schema: {
        tags: ["admin"],
        security,
        params: IdParams,
        body: AdminUserPatch,
        response: { 200: User, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const user = await services.users.update(request.params.id, request.body, {
        actor: actorOfRequest(request),
        userId: principal.user.id,
        ip: request.ip,
      });
      return toPublicUser(user);
    },
  );

  // Issue 20: an owner's named rate limits, shared by all of its keys; staff override them.
  const ownerLimits = {
    tags: ["admin"],
    security,
    params: IdParams,
    response: { 200: OwnerLimits, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody },
  };
  app.get(
    "/v1/admin/owners/:id/ratelimits",
    { config: admin, schema: ownerLimits },
    async (request) =>
      toOwnerLimits(request.params.id, await services.ownerLimits.list(request.params.id)),
  );
  app.patch(
    "/v1/admin/owners/:id/ratelimits",
    {
      config: admin,
      schema: {
        ...ownerLimits,
        summary: "Replace an owner's named rate limits (all its keys share them); audited",
        body: OwnerLimitsBody,
      },
    },
    async (request) => {
      const rows = await services.ownerLimits.set(request.params.id, request.body.ratelimits, {
        userId: principalOf(request).user.id,
        actor: actorOfRequest(request),
        ip: request.ip,
      });
      return toOwnerLimits(request.params.id, rows);
    },
  );
}
