/** An endpoint's delivery log (SPEC §11): newest first, paged, each delivery's attempts. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, asApiError } from "../api.js";
import { FormError } from "../components/field.js";
import { Modal } from "../components/modal.js";
import { Badge, EmptyState, Spinner, toast } from "../components/ui.js";
import { useSubmit } from "../components/use-submit.js";
import { formatDateTime, relative } from "../format.js";
import type { Delivery, DeliveryDetails } from "../types.js";

const PAGE = 20;
/** While a delivery is pending, the newest page is asked for again this often. */
const REFRESH_MS = 1500;

interface DeliveryPage {
  deliveries: Delivery[];
  next_before: string | null;
}

function DeliveryStatus({ delivery }: { delivery: Delivery }) {
  if (delivery.status === "delivered") return <Badge tone="success">Delivered</Badge>;
  if (delivery.status === "failed") return <Badge tone="danger">Failed</Badge>;
  return delivery.attempts > 0 ? (
    <Badge tone="warning">Retrying</Badge>
  ) : (
    <Badge tone="info">Pending</Badge>
  );
}

/** Deliveries come seconds apart: their times show the seconds. */
const TIME = new Intl.DateTimeFormat("en", {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const at = (iso: string) => TIME.format(new Date(iso));

const latency = (ms: number | null) => (ms === null ? "—" : `${ms} ms`);

export function DeliveryLog({
  webhookId,
  reload,
  enabled,
}: {
  webhookId: string;
  /** Changes when an event was queued: the newest page is asked for at once. */
  reload: number;
  enabled: boolean;
}) {
  const base = `/v1/webhooks/${encodeURIComponent(webhookId)}/deliveries`;
  // The newest page (refreshed while anything on it is pending) and the older pages loaded.
  const [recent, setRecent] = useState<DeliveryPage | null>(null);
  const [older, setOlder] = useState<DeliveryPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<Delivery | null>(null);

  const loadRecent = useCallback(async () => {
    try {
      setRecent(await api.get<DeliveryPage>(`${base}?limit=${PAGE}`));
      setError(null);
    } catch (caught) {
      setError(asApiError(caught, "could not load the delivery log").message);
    }
  }, [base]);
  useEffect(() => {
    void loadRecent();
  }, [loadRecent, reload]);

  const pending = recent?.deliveries.some((d) => d.status === "pending") ?? false;
  useEffect(() => {
    if (!pending) return;
    const timer = window.setTimeout(() => void loadRecent(), REFRESH_MS);
    return () => clearTimeout(timer);
  }, [pending, recent, loadRecent]);

  const more = useSubmit(async () => {
    const before = (older ?? recent)?.next_before;
    if (!before) return;
    const page = await api.get<DeliveryPage>(
      `${base}?limit=${PAGE}&before=${encodeURIComponent(before)}`,
    );
    setOlder((current) => ({
      deliveries: [...(current?.deliveries ?? []), ...page.deliveries],
      next_before: page.next_before,
    }));
  });

  const seen = new Set(recent?.deliveries.map((d) => d.id));
  const rows = [
    ...(recent?.deliveries ?? []),
    ...(older?.deliveries.filter((d) => !seen.has(d.id)) ?? []),
  ];
  const nextBefore = (older ?? recent)?.next_before ?? null;

  return (
    <section class="card" aria-labelledby="deliveries-title">
      <div class="card-head">
        <h2 id="deliveries-title">Delivery log</h2>
        <button
          type="button"
          class="button button-secondary button-small"
          onClick={() => void loadRecent()}
        >
          Refresh
        </button>
      </div>
      <FormError message={error ?? more.error?.message} />
      {!recent && !error && <Spinner label="Loading deliveries" />}
      {recent && rows.length === 0 && (
        <EmptyState title="No deliveries yet">
          <p class="muted">
            Events sent to this endpoint show up here. Send a test event to try it.
          </p>
        </EmptyState>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="table table-stack" aria-label="Deliveries">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last answer</th>
                <th scope="col" class="hide-narrow">
                  Latency
                </th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <tr key={d.id} data-delivery-id={d.id} data-status={d.status}>
                  <td class="nowrap">{at(d.created_at)}</td>
                  <td class="mono">{d.type}</td>
                  <td>
                    <DeliveryStatus delivery={d} />
                  </td>
                  <td>
                    {d.attempts}
                    <span class="stack-label"> {d.attempts === 1 ? "attempt" : "attempts"}</span>
                  </td>
                  <td class="mono" title={d.last_error ?? undefined}>
                    <span class="stack-label">answered </span>
                    {d.last_status ?? (d.last_error ? "error" : "—")}
                  </td>
                  <td class="hide-narrow">{latency(d.last_latency_ms)}</td>
                  <td class="nowrap">
                    <button
                      type="button"
                      class="button button-secondary button-small"
                      onClick={() => setOpen(d)}
                    >
                      Attempts
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {nextBefore && (
        <button
          type="button"
          class="button button-secondary"
          disabled={more.busy}
          onClick={() => void more.run()}
        >
          {more.busy ? "Loading…" : "Load older deliveries"}
        </button>
      )}
      {open && (
        <DeliveryDialog
          path={`${base}/${encodeURIComponent(open.id)}`}
          delivery={open}
          enabled={enabled}
          onClose={() => setOpen(null)}
          onRedelivered={() => {
            setOpen(null);
            toast("Redelivery queued");
            void loadRecent();
          }}
        />
      )}
    </section>
  );
}

function DeliveryDialog({
  path,
  delivery,
  enabled,
  onClose,
  onRedelivered,
}: {
  path: string;
  delivery: Delivery;
  enabled: boolean;
  onClose: () => void;
  onRedelivered: () => void;
}) {
  const [details, setDetails] = useState<DeliveryDetails | null>(null);
  const [error, setError] = useState<string | null>(null);
  const mounted = useRef(true);
  useEffect(() => {
    api.get<DeliveryDetails>(path).then(
      (body) => mounted.current && setDetails(body),
      (caught: unknown) => mounted.current && setError(asApiError(caught).message),
    );
    return () => {
      mounted.current = false;
    };
  }, [path]);
  const redeliver = useSubmit(() => api.post(`${path}/redeliver`), onRedelivered);
  const shown = details ?? delivery;
  return (
    <Modal title={`Delivery of ${delivery.type}`} onClose={onClose} wide>
      <FormError message={error ?? redeliver.error?.message} />
      <dl class="key-meta">
        <div>
          <dt>Status</dt>
          <dd>
            <DeliveryStatus delivery={shown} />
          </dd>
        </div>
        <div>
          <dt>Event id</dt>
          <dd class="mono">{shown.event_id}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{at(shown.created_at)}</dd>
        </div>
        {shown.status === "pending" && shown.next_attempt_at && (
          <div>
            <dt>Next attempt</dt>
            <dd title={formatDateTime(shown.next_attempt_at)}>{relative(shown.next_attempt_at)}</dd>
          </div>
        )}
      </dl>
      {!details && !error && <Spinner label="Loading attempts" />}
      {details && details.attempts_log.length === 0 && <p class="muted">Not attempted yet.</p>}
      {details && details.attempts_log.length > 0 && (
        <div class="table-wrap">
          <table class="table" aria-label="Attempts">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Time</th>
                <th scope="col">Answer</th>
                <th scope="col">Latency</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {details.attempts_log.map((a) => (
                <tr key={a.attempt} data-attempt={a.attempt}>
                  <td>{a.attempt}</td>
                  <td class="nowrap">{at(a.at)}</td>
                  <td class="mono">
                    <Badge tone={a.status !== null && a.status < 300 ? "success" : "danger"}>
                      {a.status === null ? "no answer" : String(a.status)}
                    </Badge>
                  </td>
                  <td>{latency(a.latency_ms)}</td>
                  <td class="small break">{a.error ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="modal-actions">
        <button type="button" class="button button-secondary" onClick={onClose}>
          Close
        </button>
        <button
          type="button"
          class="button button-primary"
          disabled={redeliver.busy || !enabled}
          title={enabled ? undefined : "Enable the endpoint to redeliver"}
          onClick={() => void redeliver.run()}
        >
          {redeliver.busy ? "Redelivering…" : "Redeliver"}
        </button>
      </div>
    </Modal>
  );
}
