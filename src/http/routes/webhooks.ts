import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { toDelivery, toDeliveryDetails, toWebhook } from "../../api/mappers.js";
import { ErrorBody, NoContent } from "../../api/schemas.js";
import {
  CreateWebhookBody,
  DeliveriesQuery,
  DeliveryParams,
  TestEventSent,
  WEBHOOK_EVENTS,
  WebhookCreated,
  WebhookDelivery,
  WebhookDeliveryDetails,
  WebhookDeliveryList,
  WebhookEndpoint,
  WebhookEventTypes,
  WebhookList,
  WebhookParams,
  WebhookPatch,
} from "../../api/webhooks.js";
import type { Services } from "../../services/index.js";
import { principalOf } from "../request.js";
import { stepUpCaller } from "../step-up.js";

const security = [{ bearer: [] }];
// `orgContext`: the Latchkey-Org header manages an organization's endpoints (issue 16).
const read = { auth: "any" as const, scopes: ["webhooks:read"], orgContext: true };
const write = { auth: "any" as const, scopes: ["webhooks:write"], orgContext: true };
const tags = ["webhooks"];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

/**
 * SPEC §11: the caller's webhook endpoints, their delivery log, redelivery and test events.
 * Another user's endpoint answers 404, as a missing one. Creating one, or pointing one at a
 * new URL, needs step-up (a session that authenticated in the last 10 minutes).
 */
export function webhookRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { webhooks } = services;
  const owner = (request: Parameters<typeof principalOf>[0]) => principalOf(request).user.id;

  app.get(
    "/v1/webhooks/event-types",
    { config: read, schema: { tags, security, response: { 200: WebhookEventTypes, ...errors } } },
    async () => ({
      event_types: Object.entries(WEBHOOK_EVENTS).map(([type, description]) => ({
        type,
        description,
      })),
    }),
  );

  app.post(
    "/v1/webhooks",
    {
      config: write,
      schema: {
        tags,
        summary: "Add an endpoint (step-up); the answer holds its signing secret, this once",
        security,
        body: CreateWebhookBody,
        response: { 201: WebhookCreated, ...errors },
      },
    },
    async (request, reply) => {
      const { row, secret } = await webhooks.create(stepUpCaller(request), request.body);
      reply.header("cache-control", "no-store");
      return reply.status(201).send({ ...toWebhook(row), secret });
    },
  );

  app.get(
    "/v1/webhooks",
    { config: read, schema: { tags, security, response: { 200: WebhookList, ...errors } } },
    async (request) => ({ webhooks: (await webhooks.list(owner(request))).map(toWebhook) }),
  );

  app.get(
    "/v1/webhooks/:id",
    {
      config: read,
      schema: {
        tags,
        security,
        params: WebhookParams,
        response: { 200: WebhookEndpoint, ...errors },
      },
    },
    async (request) => toWebhook(await webhooks.own(owner(request), request.params.id)),
  );

  app.patch(
    "/v1/webhooks/:id",
    {
      config: write,
      schema: {
        tags,
        summary: "Change URL (step-up), events or description; switch off or on",
        security,
        params: WebhookParams,
        body: WebhookPatch,
        response: { 200: WebhookEndpoint, ...errors },
      },
    },
    async (request) =>
      toWebhook(await webhooks.update(stepUpCaller(request), request.params.id, request.body)),
  );

  app.post(
    "/v1/webhooks/:id/rotate-secret",
    {
      config: write,
      schema: {
        tags,
        summary: "A new signing secret (step-up), shown this once; the old one stops at once",
        security,
        params: WebhookParams,
        response: { 200: WebhookCreated, ...errors },
      },
    },
    async (request, reply) => {
      const { row, secret } = await webhooks.rotateSecret(stepUpCaller(request), request.params.id);
      reply.header("cache-control", "no-store");
      return { ...toWebhook(row), secret };
    },
  );

  app.delete(
    "/v1/webhooks/:id",
    {
      config: write,
      schema: { tags, security, params: WebhookParams, response: { 204: NoContent, ...errors } },
    },
    async (request, reply) => {
      await webhooks.remove(stepUpCaller(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/v1/webhooks/:id/test",
    {
      config: write,
      schema: {
        tags,
        summary: "Queue a webhook.test event for this endpoint",
        security,
        params: WebhookParams,
        response: { 202: TestEventSent, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(202).send(await webhooks.sendTest(owner(request), request.params.id)),
  );

  app.get(
    "/v1/webhooks/:id/deliveries",
    {
      config: read,
      schema: {
        tags,
        summary: "The delivery log, newest first",
        security,
        params: WebhookParams,
        querystring: DeliveriesQuery,
        response: { 200: WebhookDeliveryList, ...errors },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      const rows = await webhooks.deliveries(owner(request), request.params.id, {
        limit: limit + 1,
        before,
      });
      const page = rows.slice(0, limit);
      return {
        deliveries: page.map(toDelivery),
        next_before: rows.length > limit ? page[page.length - 1]!.id : null,
      };
    },
  );

  app.get(
    "/v1/webhooks/:id/deliveries/:delivery_id",
    {
      config: read,
      schema: {
        tags,
        summary: "One delivery with each attempt",
        security,
        params: DeliveryParams,
        response: { 200: WebhookDeliveryDetails, ...errors },
      },
    },
    async (request) =>
      toDeliveryDetails(
        await webhooks.delivery(owner(request), request.params.id, request.params.delivery_id),
      ),
  );

  app.post(
    "/v1/webhooks/:id/deliveries/:delivery_id/redeliver",
    {
      config: write,
      schema: {
        tags,
        summary: "Send that delivery's event again (same webhook-id), as a new delivery",
        security,
        params: DeliveryParams,
        response: { 202: WebhookDelivery, ...errors },
      },
    },
    async (request, reply) => {
      const row = await webhooks.redeliver(
        stepUpCaller(request),
        request.params.id,
        request.params.delivery_id,
      );
      return reply.status(202).send(toDelivery(row));
    },
  );
}
