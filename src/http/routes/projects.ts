import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { Project, ProjectBody, ProjectList } from "../../api/keys.js";
import { toProject } from "../../api/mappers.js";
import { ErrorBody } from "../../api/schemas.js";
import { LatchkeyError } from "../../core/errors.js";
import type { Services } from "../../services/index.js";
import { callerOf, principalOf } from "../request.js";

const security = [{ bearer: [] }];
const tags = ["projects"];

/** Minimal projects, so that a key's project restriction is real. */
export function projectRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();

  app.post(
    "/v1/projects",
    {
      config: { auth: "any", scopes: ["projects:write"], orgContext: true },
      schema: {
        tags,
        security,
        body: ProjectBody,
        response: { 201: Project, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      if (caller.projectId !== null)
        throw new LatchkeyError("project_mismatch", "a project-bound key cannot create projects");
      const project = await services.projects.create(caller.user.id, request.body.name, caller);
      return reply.status(201).send(toProject(project));
    },
  );

  app.get(
    "/v1/projects",
    {
      config: { auth: "any", scopes: ["projects:read"], orgContext: true },
      schema: { tags, security, response: { 200: ProjectList, 401: ErrorBody, 403: ErrorBody } },
    },
    async (request) => {
      const principal = principalOf(request);
      const projects = await services.projects.list(principal.user.id);
      // A project-bound key sees its own project only.
      const bound = principal.key?.projectId ?? null;
      const shown = bound === null ? projects : projects.filter((p) => p.id === bound);
      return { projects: shown.map(toProject) };
    },
  );
}
