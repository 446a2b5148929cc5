/** The Webhooks page (SPEC §11): the caller's endpoints, and adding one. */
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, asApiError } from "../api.js";
import { FormError } from "../components/field.js";
import { PlusIcon } from "../components/icons.js";
import { Badge, EmptyState, PageHeader, Spinner, toast } from "../components/ui.js";
import { ago, formatDate, formatDateTime } from "../format.js";
import { Link, navigate } from "../router.js";
import type { CreatedWebhook, Webhook } from "../types.js";
import { AddEndpointDialog, SecretDialog } from "./webhook-dialogs.js";

/** On, on but failing since a time, or off (by its owner, or after 24 h of failures). */
export function EndpointState({ webhook }: { webhook: Webhook }) {
  if (!webhook.enabled) {
    return webhook.disabled_reason === "failing" ? (
      <Badge tone="danger">Disabled: kept failing</Badge>
    ) : (
      <Badge tone="warning">Disabled</Badge>
    );
  }
  if (webhook.failing_since) {
    return (
      <span title={`Failing since ${formatDateTime(webhook.failing_since)}`}>
        <Badge tone="danger">Failing</Badge>
      </span>
    );
  }
  return <Badge tone="success">Enabled</Badge>;
}

export function EventList({ events }: { events: readonly string[] }) {
  return (
    <ul class="chips" aria-label="Events">
      {[...events].sort().map((e) => (
        <li key={e} class="chip mono">
          {e}
        </li>
      ))}
    </ul>
  );
}

export function WebhooksPage() {
  const [webhooks, setWebhooks] = useState<Webhook[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [created, setCreated] = useState<CreatedWebhook | null>(null);

  const load = useCallback(async () => {
    try {
      const list = (await api.get<{ webhooks: Webhook[] }>("/v1/webhooks")).webhooks;
      setWebhooks(list.sort((a, b) => b.created_at.localeCompare(a.created_at)));
      setLoadError(null);
    } catch (caught) {
      setLoadError(asApiError(caught, "could not load your webhook endpoints").message);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const add = (
    <button type="button" class="button button-primary" onClick={() => setAdding(true)}>
      <PlusIcon />
      Add endpoint
    </button>
  );
  return (
    <>
      <PageHeader
        title="Webhooks"
        description="Latchkey tells your own services when something happens to your keys and account: each event is a signed POST to the endpoints you add, retried until it is delivered."
        actions={add}
      />
      <FormError message={loadError} />
      {!webhooks && !loadError && <Spinner label="Loading endpoints" />}
      {webhooks && webhooks.length === 0 && (
        <EmptyState title="No webhook endpoints yet">
          <p class="muted">
            Add one to hear about leaked, expiring or revoked keys as they happen.
          </p>
          {add}
        </EmptyState>
      )}
      {webhooks && webhooks.length > 0 && (
        <ul class="key-list" aria-label="Webhook endpoints">
          {webhooks.map((w) => (
            <li key={w.id} class="key-card" data-webhook-id={w.id}>
              <div class="key-card-head">
                <div class="key-card-title">
                  <h2 class="mono">
                    <Link href={`/webhooks/${encodeURIComponent(w.id)}`}>{w.url}</Link>
                  </h2>
                  <EndpointState webhook={w} />
                </div>
              </div>
              {w.description && <p class="key-description">{w.description}</p>}
              <dl class="key-meta">
                <div>
                  <dt>Created</dt>
                  <dd title={formatDateTime(w.created_at)}>{formatDate(w.created_at)}</dd>
                </div>
                {w.failing_since && (
                  <div>
                    <dt>Failing since</dt>
                    <dd class="text-warning" title={formatDateTime(w.failing_since)}>
                      {ago(w.failing_since)}
                    </dd>
                  </div>
                )}
              </dl>
              <div class="key-scopes">
                <span class="key-scopes-label">Events</span>
                <EventList events={w.events} />
              </div>
            </li>
          ))}
        </ul>
      )}
      {adding && (
        <AddEndpointDialog
          onClose={() => setAdding(false)}
          onCreated={(endpoint) => {
            setAdding(false);
            setCreated(endpoint);
            void load();
          }}
        />
      )}
      {created && (
        <SecretDialog
          title="Endpoint added"
          secret={created.secret}
          onDone={() => {
            const id = created.id;
            setCreated(null);
            toast("Endpoint added");
            navigate(`/webhooks/${encodeURIComponent(id)}`);
          }}
        />
      )}
    </>
  );
}
