import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { toPublicUser } from "../../api/mappers.js";
import {
  AdminUserList,
  AdminUserPatch,
  ErrorBody,
  IdParams,
  PageQuery,
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
}
