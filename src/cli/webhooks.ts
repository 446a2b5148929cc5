/**
 * `latchkey webhook …` (SPEC §11): endpoints that receive the account's security events,
 * signed per Standard Webhooks, and their delivery log. Creating one, pointing one at a new
 * URL and rotating its secret need a recent sign-in (step-up), as on the server.
 */
import { Command } from "commander";
import type {
  WebhookCreatedT,
  WebhookDeliveryDetailsT,
  WebhookDeliveryT,
  WebhookEndpointT,
} from "../api/webhooks.js";
import { isWebhookEventType, WEBHOOK_EVENT_TYPES } from "../core/webhook-events.js";
import { applyOrg, withOrgOptions, type OrgOptions } from "./org-context.js";
import { contextOf, withCommonOptions, type CommonOptions } from "./context.js";
import { usageError } from "./exit.js";
import { table } from "./output.js";
import { enableStepUp, withStepUpOptions, type StepUpOptions } from "./step-up.js";
import {
  deliveryFields,
  deliveryTable,
  endpointFields,
  endpointTable,
  paintDelivery,
  renderSigningSecret,
} from "./webhook-views.js";

const path = (id: string, tail = "") => `/v1/webhooks/${encodeURIComponent(id)}${tail}`;
const deliveryPath = (id: string, deliveryId: string, tail = "") =>
  path(id, `/deliveries/${encodeURIComponent(deliveryId)}${tail}`);

/** `--event a --event b,c`: repeatable, commas or spaces also separate; checked here. */
function collectEvents(value: string, previous: string[] = []): string[] {
  const events = value.split(/[\s,]+/).filter(Boolean);
  const unknown = events.filter((e) => !isWebhookEventType(e));
  if (unknown.length > 0)
    throw usageError(
      `unknown event type: ${unknown.join(", ")}`,
      `one of: ${WEBHOOK_EVENT_TYPES.join(", ")} (\`latchkey webhook events\` says what each means)`,
    );
  return [...previous, ...events];
}

/** A URL the server can be asked about: http(s), nothing else (where it points, it checks). */
function parseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`not a URL: ${text}`, "give the full address, e.g. https://example.com/hooks");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw usageError(`the URL must be http:// or https://, not ${url.protocol}`);
  return text;
}

async function list(options: CommonOptions & OrgOptions): Promise<void> {
  const cli = contextOf(options);
  await applyOrg(cli, options);
  const reply = await cli.api.get<{ webhooks: WebhookEndpointT[] }>("/v1/webhooks");
  cli.out.result(reply, (s) => endpointTable(reply.webhooks, s));
}

async function events(options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const reply = await cli.api.get<{ event_types: { type: string; description: string }[] }>(
    "/v1/webhooks/event-types",
  );
  cli.out.result(reply, (s) =>
    table(
      [{ header: "EVENT" }, { header: "WHAT IT MEANS" }],
      reply.event_types.map((e) => [e.type, e.description]),
      s,
    ),
  );
}

interface CreateOptions extends CommonOptions, StepUpOptions, OrgOptions {
  event: string[];
  description?: string;
}

async function create(url: string, options: CreateOptions): Promise<void> {
  const cli = contextOf(options);
  await applyOrg(cli, options);
  enableStepUp(cli, options);
  const body: Record<string, unknown> = { url: parseUrl(url), events: options.event };
  if (options.description !== undefined) body.description = options.description;
  const created = await cli.api.post<WebhookCreatedT>("/v1/webhooks", body);
  cli.out.result(
    created,
    (s) =>
      `${s.green("✓")} Created webhook ${s.bold(created.id)} to ${created.url} ` +
      `for ${created.events.join(", ")}.\n` +
      renderSigningSecret(created, s) +
      `Send it a test event: \`latchkey webhook test ${created.id}\`.\n`,
  );
}

async function show(id: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const webhook = await cli.api.get<WebhookEndpointT>(path(id));
  cli.out.result(webhook, (s) => endpointFields(webhook, s));
}

interface EditOptions extends CommonOptions, StepUpOptions {
  url?: string;
  event?: string[];
  description?: string;
}

async function edit(id: string, options: EditOptions): Promise<void> {
  const body: Record<string, unknown> = {};
  if (options.url !== undefined) body.url = options.url;
  if (options.event !== undefined) body.events = options.event;
  if (options.description !== undefined) body.description = options.description || null;
  if (Object.keys(body).length === 0)
    throw usageError(
      "nothing to change",
      "pass --url U (asks for a recent sign-in), --event E (replaces the events) or --description D ('' clears it)",
    );
  const cli = contextOf(options);
  enableStepUp(cli, options);
  const webhook = await cli.api.patch<WebhookEndpointT>(path(id), body);
  cli.out.result(
    webhook,
    (s) => `${s.green("✓")} Updated ${s.bold(webhook.id)}.\n\n${endpointFields(webhook, s)}`,
  );
}

/** `webhook disable` / `webhook enable`: stop and resume deliveries without deleting it. */
function toggle(enabled: boolean) {
  return async (id: string, options: CommonOptions): Promise<void> => {
    const cli = contextOf(options);
    const webhook = await cli.api.patch<WebhookEndpointT>(path(id), { enabled });
    cli.out.result(webhook, (s) =>
      enabled
        ? `${s.green("✓")} Enabled ${s.bold(id)}: new events are delivered to it again.\n`
        : `${s.green("✓")} Disabled ${s.bold(id)}: nothing is delivered, and what was queued is given up, until \`latchkey webhook enable ${id}\`.\n`,
    );
  };
}

async function remove(id: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  await cli.api.delete<unknown>(path(id));
  cli.out.result(
    { id, deleted: true },
    (s) => `${s.green("✓")} Deleted webhook ${s.bold(id)} and its delivery log.\n`,
  );
}

async function sendTest(id: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const sent = await cli.api.post<{ event_id: string }>(path(id, "/test"), {});
  cli.out.result(
    sent,
    (s) =>
      `${s.green("✓")} Queued a webhook.test event (webhook-id ${s.bold(sent.event_id)}).\n` +
      `See how it went: \`latchkey webhook deliveries ${id}\`.\n`,
  );
}

interface DeliveriesOptions extends CommonOptions {
  limit?: number;
  before?: string;
}

function parseLimit(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 100)
    throw usageError(`--limit must be a whole number from 1 to 100, not ${text}`);
  return n;
}

async function deliveries(id: string, options: DeliveriesOptions): Promise<void> {
  const cli = contextOf(options);
  const query = new URLSearchParams();
  if (options.limit !== undefined) query.set("limit", String(options.limit));
  if (options.before !== undefined) query.set("before", options.before);
  const tail = query.size > 0 ? `/deliveries?${query}` : "/deliveries";
  const reply = await cli.api.get<{ deliveries: WebhookDeliveryT[]; next_before: string | null }>(
    path(id, tail),
  );
  cli.out.result(
    reply,
    (s) =>
      deliveryTable(reply.deliveries, s) +
      (reply.next_before
        ? s.dim(`Older: \`latchkey webhook deliveries ${id} --before ${reply.next_before}\`\n`)
        : ""),
  );
}

async function delivery(id: string, deliveryId: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const details = await cli.api.get<WebhookDeliveryDetailsT>(deliveryPath(id, deliveryId));
  cli.out.result(details, (s) => deliveryFields(details, s));
}

async function redeliver(id: string, deliveryId: string, options: CommonOptions): Promise<void> {
  const cli = contextOf(options);
  const queued = await cli.api.post<WebhookDeliveryT>(
    deliveryPath(id, deliveryId, "/redeliver"),
    {},
  );
  cli.out.result(
    queued,
    (s) =>
      `${s.green("✓")} Queued ${s.bold(queued.id)}: ${queued.type} again, with the same webhook-id ` +
      `(${paintDelivery(queued.status, s)}).\n`,
  );
}

async function rotateSecret(id: string, options: CommonOptions & StepUpOptions): Promise<void> {
  const cli = contextOf(options);
  enableStepUp(cli, options);
  const rotated = await cli.api.post<WebhookCreatedT>(path(id, "/rotate-secret"), {});
  cli.out.result(
    rotated,
    (s) =>
      `${s.green("✓")} New signing secret for ${s.bold(rotated.id)}; the old one no longer signs.\n` +
      renderSigningSecret(rotated, s),
  );
}

const ID = ["<id>", "webhook endpoint id (whe_…)"] as const;
const DELIVERY_ID = [
  "<delivery-id>",
  "delivery id (whd_…), from `latchkey webhook deliveries`",
] as const;
const EVENT_HELP = "an event type, e.g. key.revoked (repeat, or separate with commas)";

function sub(name: string, description: string, ...args: (readonly [string, string])[]): Command {
  const command = new Command(name).description(description);
  for (const [arg, help] of args) command.argument(arg, help);
  return withCommonOptions(command);
}

export function webhookCommand(): Command {
  const webhook = new Command("webhook").description(
    "endpoints that receive your account's security events (signed, with a delivery log)",
  );
  webhook.addCommand(
    withOrgOptions(sub("list", "your webhook endpoints (an organization's with --org)")).action(
      list,
    ),
  );
  webhook.addCommand(sub("events", "the event types an endpoint can subscribe to").action(events));
  webhook.addCommand(
    withStepUpOptions(
      sub(
        "create",
        "add an endpoint; its signing secret is printed this once (asks for a recent sign-in)",
        ["<url>", "where to POST the events: an https:// URL on a public address"],
      )
        .requiredOption("--event <type>", EVENT_HELP, collectEvents)
        .option("--description <text>", "what the endpoint is for, for people")
        .option("--org <org>", "an endpoint of this organization (id or name)")
        .option("--personal", "an endpoint of your own, whatever organization is switched to"),
    ).action(create),
  );
  webhook.addCommand(sub("show", "one endpoint's details", ID).action(show));
  webhook.addCommand(
    withStepUpOptions(
      sub("edit", "change an endpoint's URL (asks for a recent sign-in), events or description", ID)
        .option("--url <url>", "the new URL", parseUrl)
        .option("--event <type>", `${EVENT_HELP}; replaces the events`, collectEvents)
        .option("--description <text>", "new description ('' clears it)"),
    ).action(edit),
  );
  webhook.addCommand(
    sub("enable", "deliver to a disabled endpoint again", ID).action(toggle(true)),
  );
  webhook.addCommand(
    sub("disable", "stop delivering to an endpoint without deleting it", ID).action(toggle(false)),
  );
  webhook.addCommand(sub("delete", "delete an endpoint and its delivery log", ID).action(remove));
  webhook.addCommand(sub("test", "send the endpoint a webhook.test event", ID).action(sendTest));
  webhook.addCommand(
    sub("deliveries", "an endpoint's delivery log, newest first", ID)
      .option("--limit <n>", "how many (1-100, default 50)", parseLimit)
      .option("--before <cursor>", "older than this delivery (the cursor a page ends with)")
      .action(deliveries),
  );
  webhook.addCommand(
    sub("delivery", "one delivery and each of its attempts", ID, DELIVERY_ID).action(delivery),
  );
  webhook.addCommand(
    sub(
      "redeliver",
      "send a delivery's event again, with the same webhook-id",
      ID,
      DELIVERY_ID,
    ).action(redeliver),
  );
  webhook.addCommand(
    withStepUpOptions(
      sub(
        "rotate-secret",
        "a new signing secret, printed this once; the old one stops at once (asks for a recent sign-in)",
        ID,
      ),
    ).action(rotateSecret),
  );
  return webhook;
}
