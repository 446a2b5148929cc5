/** How webhook endpoints and their deliveries read in the terminal. */
import type {
  WebhookCreatedT,
  WebhookDeliveryDetailsT,
  WebhookDeliveryT,
  WebhookEndpointT,
} from "../api/webhooks.js";
import { calendarDate, fields, relativeTime, table, wrap, type Style } from "./output.js";

/** On, off by its owner, or off after a day of failed deliveries; "failing" while on. */
export function endpointStatus(w: WebhookEndpointT, s: Style, now = Date.now()): string {
  if (!w.enabled)
    return w.disabled_reason === "failing" ? s.red("disabled (failing)") : s.yellow("disabled");
  if (w.failing_since) return s.yellow(`failing since ${relativeTime(w.failing_since, now)}`);
  return s.green("enabled");
}

export function endpointTable(webhooks: readonly WebhookEndpointT[], s: Style): string {
  if (webhooks.length === 0)
    return "No webhook endpoints. Add one with `latchkey webhook create URL --event E`.\n";
  return table(
    [
      { header: "ID" },
      { header: "URL" },
      { header: "EVENTS" },
      { header: "STATUS" },
      { header: "CREATED" },
    ],
    webhooks.map((w) => [
      w.id,
      w.url,
      w.events.length > 2
        ? `${w.events.slice(0, 2).join(",")} +${w.events.length - 2}`
        : w.events.join(","),
      endpointStatus(w, s),
      calendarDate(w.created_at),
    ]),
    s,
  );
}

const dated = (at: string | null, now: number) =>
  at === null ? null : `${calendarDate(at)} (${relativeTime(at, now)})`;

export function endpointFields(w: WebhookEndpointT, s: Style, now = Date.now()): string {
  return fields(
    [
      ["ID", s.bold(w.id)],
      ["URL", w.url],
      ["Description", w.description],
      ["Events", wrap(w.events, 64)],
      ["Status", endpointStatus(w, s, now)],
      ["Created", dated(w.created_at, now)],
      ["Updated", dated(w.updated_at, now)],
    ],
    s,
  );
}

/** The one-time signing secret, framed so it cannot be missed, and what to do with it. */
export function renderSigningSecret(created: WebhookCreatedT, s: Style): string {
  return (
    `\n  ${s.bold(created.secret)}\n\n` +
    `${s.yellow("This signing secret is shown only once.")} Store it with your receiver now; ` +
    "it checks the webhook-signature header (verifyWebhook in the latchkey SDK, or any Standard Webhooks library).\n"
  );
}

export function paintDelivery(status: WebhookDeliveryT["status"], s: Style): string {
  if (status === "delivered") return s.green(status);
  if (status === "failed") return s.red(status);
  return s.yellow(status);
}

/** The receiver's last answer: its HTTP status and latency, or the error. */
function lastAnswer(d: WebhookDeliveryT): string {
  if (d.last_status !== null)
    return d.last_latency_ms !== null
      ? `${d.last_status} in ${d.last_latency_ms} ms`
      : String(d.last_status);
  return d.last_error ?? "—";
}

export function deliveryTable(
  deliveries: readonly WebhookDeliveryT[],
  s: Style,
  now = Date.now(),
): string {
  if (deliveries.length === 0)
    return "No deliveries yet. Send one with `latchkey webhook test ID`.\n";
  return table(
    [
      { header: "ID" },
      { header: "TYPE" },
      { header: "STATUS" },
      { header: "ATTEMPTS", align: "right" },
      { header: "LAST ANSWER" },
      { header: "CREATED" },
    ],
    deliveries.map((d) => [
      d.id,
      d.type,
      paintDelivery(d.status, s),
      String(d.attempts),
      lastAnswer(d),
      relativeTime(d.created_at, now),
    ]),
    s,
  );
}

export function deliveryFields(d: WebhookDeliveryDetailsT, s: Style, now = Date.now()): string {
  const head = fields(
    [
      ["ID", s.bold(d.id)],
      ["Event", `${d.type} (webhook-id ${d.event_id})`],
      ["Status", paintDelivery(d.status, s)],
      ["Attempts", String(d.attempts)],
      ["Created", dated(d.created_at, now)],
      ["Delivered", dated(d.delivered_at, now)],
      ["Failed", dated(d.failed_at, now)],
      ["Next attempt", d.status === "pending" ? dated(d.next_attempt_at, now) : null],
      ["Last error", d.last_error],
    ],
    s,
  );
  if (d.attempts_log.length === 0) return head;
  const attempts = table(
    [
      { header: "#", align: "right" },
      { header: "AT" },
      { header: "STATUS" },
      { header: "LATENCY", align: "right" },
      { header: "ERROR" },
    ],
    d.attempts_log.map((a) => [
      String(a.attempt),
      a.at,
      a.status === null ? "—" : String(a.status),
      `${a.latency_ms} ms`,
      a.error ?? "",
    ]),
    s,
  );
  return `${head}\n${s.bold("Attempts")}\n${attempts}`;
}
