import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import {
  ActivityQuery,
  CreateKeyBody,
  KeyActivity,
  KeyCreated,
  KeyDetails,
  KeyList,
  KeyPatch,
  KeyRecordFull,
  RotateBody,
} from "../../api/keys.js";
import {
  toKeyActivity,
  toFullRecord,
  toKeyAt,
  toKeyCreated,
  toKeyUsage,
  toRecord,
} from "../../api/mappers.js";
import { ErrorBody, IdParams } from "../../api/schemas.js";
import type { Services } from "../../services/index.js";
import { callerOf, principalOf } from "../request.js";
import { stepUpCaller } from "../step-up.js";

const security = [{ bearer: [] }];
// `orgContext`: the Latchkey-Org header makes a member act in that organization (issue 16).
const read = { auth: "any" as const, scopes: ["keys:read"], orgContext: true };
const write = { auth: "any" as const, scopes: ["keys:write"], orgContext: true };
/** Minting keys takes the key itself or a session, never a token exchanged for a key. */
const mint = { ...write, exchangedTokens: false };
const tags = ["api-keys"];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/** SPEC §4: the caller's own keys. Another user's key id answers 404, as a missing one. */
export function apiKeyRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { apiKeys, keyViews, keyMetering, deps } = services;

  app.post(
    "/v1/api-keys",
    {
      config: mint,
      schema: {
        tags,
        summary:
          "Create a key; a live key with write or admin scopes needs a recent authentication (step-up)",
        security,
        body: CreateKeyBody,
        response: { 201: KeyCreated, ...errors },
      },
    },
    async (request, reply) => {
      const created = await apiKeys.create(stepUpCaller(request), request.body);
      reply.header("cache-control", "no-store");
      return reply.status(201).send(toKeyCreated(created));
    },
  );

  app.get(
    "/v1/api-keys",
    { config: read, schema: { tags, security, response: { 200: KeyList, ...errors } } },
    async (request) => {
      const rows = await apiKeys.list(principalOf(request).user.id);
      const now = deps.now();
      return { api_keys: rows.map((row) => toRecord(row, now)) };
    },
  );

  app.get(
    "/v1/api-keys/:id",
    {
      config: read,
      schema: { tags, security, params: IdParams, response: { 200: KeyDetails, ...errors } },
    },
    async (request) => {
      const row = await apiKeys.own(callerOf(request), request.params.id);
      const now = deps.now();
      // The live balance (the stored one lags by up to a write-back).
      const live = await keyMetering.balance(row);
      return {
        ...toFullRecord(row, now),
        remaining: live?.remaining ?? null,
        usage: toKeyUsage(await keyViews.usage(row.id)),
      };
    },
  );

  app.get(
    "/v1/api-keys/:id/activity",
    {
      config: read,
      schema: {
        tags,
        security,
        params: IdParams,
        querystring: ActivityQuery,
        response: { 200: KeyActivity, ...errors },
      },
    },
    async (request) => {
      const row = await apiKeys.own(callerOf(request), request.params.id);
      const [rows, sampled] = await Promise.all([
        keyViews.activity(row.id, request.query),
        keyViews.sampled(row.id),
      ]);
      return toKeyActivity(rows, request.query.limit, sampled);
    },
  );

  app.patch(
    "/v1/api-keys/:id",
    {
      config: write,
      schema: {
        tags,
        security,
        params: IdParams,
        body: KeyPatch,
        response: { 200: KeyRecordFull, ...errors },
      },
    },
    async (request) =>
      toKeyAt(await apiKeys.edit(callerOf(request), request.params.id, request.body)),
  );

  app.delete(
    "/v1/api-keys/:id",
    {
      config: write,
      schema: { tags, security, params: IdParams, response: { 200: KeyRecordFull, ...errors } },
    },
    async (request) => toKeyAt(await apiKeys.revoke(callerOf(request), request.params.id)),
  );

  app.post(
    "/v1/api-keys/:id/rotate",
    {
      config: mint,
      schema: {
        tags,
        summary:
          "Rotate a key; a live key with write or admin scopes needs a recent authentication (step-up)",
        security,
        params: IdParams,
        body: RotateBody.optional(),
        response: { 201: KeyCreated, 409: ErrorBody, ...errors },
      },
    },
    async (request, reply) => {
      const rotated = await apiKeys.rotate(
        stepUpCaller(request),
        request.params.id,
        request.body?.expire_old_in,
      );
      reply.header("cache-control", "no-store");
      return reply.status(201).send(toKeyCreated(rotated));
    },
  );
}
