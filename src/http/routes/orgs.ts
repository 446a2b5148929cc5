import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import {
  CreateKeyBody,
  KeyCreated,
  KeyList,
  Project,
  ProjectBody,
  ProjectList,
} from "../../api/keys.js";
import {
  toAuditEntry,
  toInvitation,
  toKeyCreated,
  toMember,
  toOrg,
  toOrgPolicy,
  toProject,
  toRecord,
} from "../../api/mappers.js";
import {
  AcceptBody,
  Accepted,
  CreateOrgBody,
  DeleteOrgQuery,
  InvitationBody,
  InvitationCreated,
  InvitationList,
  InvitationParams,
  Member,
  MemberList,
  MemberParams,
  MemberPatch,
  Org,
  OrgDeleted,
  OrgList,
  OrgParams,
  OrgPatch,
  OrgPolicy,
  OrgPolicyPatch,
} from "../../api/orgs.js";
import { AuditList, AuditQuery, ErrorBody, NoContent } from "../../api/schemas.js";
import { LatchkeyError } from "../../core/errors.js";
import type { OrgAction } from "../../core/org-roles.js";
import type { Services } from "../../services/index.js";
import type { OrgContext } from "../../services/orgs/orgs.js";
import { callerOf } from "../request.js";
import { stepUpCaller } from "../step-up.js";

const security = [{ bearer: [] }];
const tags = ["orgs"];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const session = { auth: "session" as const };
const any = { auth: "any" as const };
const OrgAuditQuery = AuditQuery.omit({ all: true, format: true });

/**
 * SPEC §10: organizations. Every route under `/v1/orgs/:id` reads the caller's membership
 * afresh (services/orgs), so a removed member is refused at once on every instance; one who
 * is not a member gets 404, as for a missing organization.
 */
export function orgRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { orgs, invitations, apiKeys, projects, audit, deps } = services;

  /** The caller in the organization (with step-up's auth time for the person). */
  const inOrg = (
    request: FastifyRequest,
    id: string,
    options: { action?: OrgAction; allowWithout2fa?: boolean } = {},
  ): Promise<OrgContext> => orgs.context(stepUpCaller(request), id, options);
  const present = async (ctx: OrgContext) =>
    toOrg(ctx.org, ctx.caller.member?.role ?? null, await orgs.plan(ctx.org.id));

  app.post(
    "/v1/orgs",
    {
      config: session,
      schema: {
        tags,
        summary: "Create an organization; the caller is its first owner",
        security,
        body: CreateOrgBody,
        response: { 201: Org, ...errors },
      },
    },
    async (request, reply) => {
      const { org, role } = await orgs.create(callerOf(request), request.body.name);
      return reply.status(201).send(toOrg(org, role, await orgs.plan(org.id)));
    },
  );

  app.get(
    "/v1/orgs",
    {
      config: any,
      schema: {
        tags,
        summary: "The caller's organizations (an organization's key: its own)",
        security,
        response: { 200: OrgList, ...errors },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      if (caller.user.org !== undefined) {
        const ctx = await orgs.context(caller, caller.user.id);
        return { orgs: [await present(ctx)] };
      }
      const rows = await orgs.list(caller.user.id);
      return { orgs: rows.map(({ org, role, plan }) => toOrg(org, role, plan)) };
    },
  );

  app.get(
    "/v1/orgs/:id",
    {
      config: any,
      schema: { tags, security, params: OrgParams, response: { 200: Org, ...errors } },
    },
    async (request) => present(await inOrg(request, request.params.id, { allowWithout2fa: true })),
  );

  app.patch(
    "/v1/orgs/:id",
    {
      config: session,
      schema: {
        tags,
        summary: "Rename (owners and admins)",
        security,
        params: OrgParams,
        body: OrgPatch,
        response: { 200: Org, ...errors },
      },
    },
    async (request) => {
      const ctx = await inOrg(request, request.params.id, { action: "configure" });
      const org = await orgs.rename(ctx, request.body.name);
      return present({ ...ctx, org });
    },
  );

  app.delete(
    "/v1/orgs/:id",
    {
      config: session,
      schema: {
        tags,
        summary:
          "Delete (owners; needs step-up): refused while active keys remain unless revoke_keys=true",
        security,
        params: OrgParams,
        querystring: DeleteOrgQuery,
        response: { 200: OrgDeleted, ...errors },
      },
    },
    async (request) => {
      const ctx = await inOrg(request, request.params.id, { action: "delete" });
      const { keysRevoked } = await orgs.delete(ctx, request.query.revoke_keys === "true");
      return { deleted: true as const, keys_revoked: keysRevoked };
    },
  );

  app.get(
    "/v1/orgs/:id/policy",
    {
      config: any,
      schema: { tags, security, params: OrgParams, response: { 200: OrgPolicy, ...errors } },
    },
    async (request) =>
      toOrgPolicy((await inOrg(request, request.params.id, { allowWithout2fa: true })).org),
  );

  app.patch(
    "/v1/orgs/:id/policy",
    {
      config: session,
      schema: {
        tags,
        summary:
          "Set policies (owners and admins; needs step-up); they hold at once for every org key",
        security,
        params: OrgParams,
        body: OrgPolicyPatch,
        response: { 200: OrgPolicy, ...errors },
      },
    },
    async (request) => {
      const ctx = await inOrg(request, request.params.id, { action: "configure" });
      return toOrgPolicy(await orgs.setPolicy(ctx, request.body));
    },
  );

  app.get(
    "/v1/orgs/:id/members",
    {
      config: any,
      schema: { tags, security, params: OrgParams, response: { 200: MemberList, ...errors } },
    },
    async (request) => {
      const ctx = await inOrg(request, request.params.id);
      return { members: (await orgs.members(ctx)).map(toMember) };
    },
  );

  app.patch(
    "/v1/orgs/:id/members/:user_id",
    {
      config: session,
      schema: {
        tags,
        summary: "Change a member's role (owners and admins; owners alone make or change owners)",
        security,
        params: MemberParams,
        body: MemberPatch,
        response: { 200: Member, ...errors },
      },
    },
    async (request) => {
      const ctx = await inOrg(request, request.params.id, { action: "manage_members" });
      return toMember(await orgs.setRole(ctx, request.params.user_id, request.body.role));
    },
  );

  app.delete(
    "/v1/orgs/:id/members/:user_id",
    {
      config: session,
      schema: {
        tags,
        summary:
          "Remove a member, or leave (your own id); the last owner cannot go. The keys they minted stay the organization's",
        security,
        params: MemberParams,
        response: { 204: NoContent, ...errors },
      },
    },
    async (request, reply) => {
      const person = stepUpCaller(request);
      const { id, user_id } = request.params;
      if (user_id === person.user.id) await orgs.leave(person, id);
      else await orgs.removeMember(await inOrg(request, id, { action: "manage_members" }), user_id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/v1/orgs/:id/invitations",
    {
      config: session,
      schema: {
        tags,
        summary: "Invite an address (owners and admins): the token and link are shown this once",
        security,
        params: OrgParams,
        body: InvitationBody,
        response: { 201: InvitationCreated, ...errors },
      },
    },
    async (request, reply) => {
      const ctx = await inOrg(request, request.params.id, { action: "manage_members" });
      const created = await invitations.create(ctx, request.body);
      reply.header("cache-control", "no-store");
      return reply
        .status(201)
        .send({ ...toInvitation(created.row), token: created.token, url: created.url });
    },
  );

  app.get(
    "/v1/orgs/:id/invitations",
    {
      config: any,
      schema: { tags, security, params: OrgParams, response: { 200: InvitationList, ...errors } },
    },
    async (request) => {
      const ctx = await inOrg(request, request.params.id, { action: "manage_members" });
      return { invitations: (await invitations.pending(ctx)).map(toInvitation) };
    },
  );

  app.delete(
    "/v1/orgs/:id/invitations/:invitation_id",
    {
      config: session,
      schema: {
        tags,
        summary: "Revoke a pending invitation",
        security,
        params: InvitationParams,
        response: { 204: NoContent, ...errors },
      },
    },
    async (request, reply) => {
      const ctx = await inOrg(request, request.params.id, { action: "manage_members" });
      await invitations.revoke(ctx, request.params.invitation_id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/v1/invitations/accept",
    {
      config: session,
      schema: {
        tags,
        summary: "Accept an invitation, signed in with the invited address",
        security,
        body: AcceptBody,
        response: { 200: Accepted, ...errors },
      },
    },
    async (request) => {
      const person = stepUpCaller(request);
      const { orgId } = await invitations.accept(person, request.body.token);
      return { org: await present(await orgs.context(person, orgId, { allowWithout2fa: true })) };
    },
  );

  app.post(
    "/v1/orgs/:id/api-keys",
    {
      config: { ...any, scopes: ["keys:write"], exchangedTokens: false },
      schema: {
        tags,
        summary:
          "Mint a key the organization owns (within your role and its policies); it outlives your membership",
        security,
        params: OrgParams,
        body: CreateKeyBody,
        response: { 201: KeyCreated, ...errors },
      },
    },
    async (request, reply) => {
      const ctx = await inOrg(request, request.params.id);
      const created = await apiKeys.create(ctx.caller, request.body);
      reply.header("cache-control", "no-store");
      return reply.status(201).send(toKeyCreated(created));
    },
  );

  app.get(
    "/v1/orgs/:id/api-keys",
    {
      config: { ...any, scopes: ["keys:read"] },
      schema: { tags, security, params: OrgParams, response: { 200: KeyList, ...errors } },
    },
    async (request) => {
      const ctx = await inOrg(request, request.params.id);
      const rows = await apiKeys.list(ctx.org.id);
      const now = deps.now();
      return { api_keys: rows.map((row) => toRecord(row, now)) };
    },
  );

  app.post(
    "/v1/orgs/:id/projects",
    {
      config: { ...any, scopes: ["projects:write"] },
      schema: {
        tags,
        security,
        params: OrgParams,
        body: ProjectBody,
        response: { 201: Project, ...errors },
      },
    },
    async (request, reply) => {
      const ctx = await inOrg(request, request.params.id);
      if (!ctx.caller.scopes.has("projects:write"))
        throw new LatchkeyError("forbidden", "your role cannot create the organization's projects");
      const project = await projects.create(ctx.org.id, request.body.name, ctx.person);
      return reply.status(201).send(toProject(project));
    },
  );

  app.get(
    "/v1/orgs/:id/projects",
    {
      config: { ...any, scopes: ["projects:read"] },
      schema: { tags, security, params: OrgParams, response: { 200: ProjectList, ...errors } },
    },
    async (request) => {
      const ctx = await inOrg(request, request.params.id);
      return { projects: (await projects.list(ctx.org.id)).map(toProject) };
    },
  );

  app.get(
    "/v1/orgs/:id/audit-log",
    {
      config: { ...any, scopes: ["audit:read"] },
      schema: {
        tags,
        summary: "The organization's events (owners and admins)",
        security,
        params: OrgParams,
        querystring: OrgAuditQuery,
        response: { 200: AuditList, ...errors },
      },
    },
    async (request) => {
      const ctx = await inOrg(request, request.params.id, { action: "read_audit" });
      const { limit, before, event } = request.query;
      const events = await audit.list({ userId: null, orgId: ctx.org.id, limit, before, event });
      const next = events.length === limit ? events[events.length - 1]!.id : null;
      return { events: events.map(toAuditEntry), next_before: next };
    },
  );
}
