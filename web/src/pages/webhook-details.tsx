/** One webhook endpoint (SPEC §11): its settings, its actions and its delivery log. */
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, ApiError, asApiError } from "../api.js";
import { FormError } from "../components/field.js";
import { ArrowLeftIcon, RotateIcon } from "../components/icons.js";
import { PageHeader, Spinner, toast } from "../components/ui.js";
import { formatDateTime } from "../format.js";
import { Link, navigate } from "../router.js";
import type { CreatedWebhook, Webhook } from "../types.js";
import {
  DeleteEndpointDialog,
  EditEndpointDialog,
  RotateSecretDialog,
  SecretDialog,
} from "./webhook-dialogs.js";
import { DeliveryLog } from "./webhook-deliveries.js";
import { EndpointState, EventList } from "./webhooks.js";

type Dialog = "edit" | "rotate" | "delete" | null;

export function WebhookDetailsPage({ id }: { id: string }) {
  const [webhook, setWebhook] = useState<Webhook | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [busy, setBusy] = useState<"toggle" | "test" | null>(null);
  // Bumped when an event was queued: the delivery log reloads at once.
  const [sent, setSent] = useState(0);
  const path = `/v1/webhooks/${encodeURIComponent(id)}`;

  const load = useCallback(async () => {
    try {
      setWebhook(await api.get<Webhook>(path));
      setLoadError(null);
    } catch (caught) {
      setLoadError(
        caught instanceof ApiError && caught.status === 404
          ? "This endpoint does not exist, or it is not yours."
          : asApiError(caught, "could not load the endpoint").message,
      );
    }
  }, [path]);
  useEffect(() => {
    setWebhook(null);
    void load();
  }, [load]);

  const back = (
    <Link href="/webhooks" class="back-link">
      <ArrowLeftIcon />
      Webhooks
    </Link>
  );
  if (loadError && !webhook) {
    return (
      <>
        <PageHeader title="Endpoint not found">{back}</PageHeader>
        <FormError message={loadError} />
      </>
    );
  }
  if (!webhook) return <Spinner label="Loading endpoint" />;

  const act = async (which: "toggle" | "test") => {
    setBusy(which);
    setActionError(null);
    try {
      if (which === "test") {
        await api.post(`${path}/test`);
        toast("Test event queued");
        setSent((n) => n + 1);
      } else {
        const changed = await api.patch<Webhook>(path, { enabled: !webhook.enabled });
        setWebhook(changed);
        toast(changed.enabled ? "Endpoint enabled" : "Endpoint disabled");
      }
    } catch (caught) {
      setActionError(asApiError(caught).message);
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      <PageHeader
        title={webhook.url}
        meta={
          <div class="title-badges">
            <EndpointState webhook={webhook} />
          </div>
        }
        actions={
          <>
            <button
              type="button"
              class="button button-primary"
              disabled={busy !== null}
              onClick={() => void act("test")}
            >
              {busy === "test" ? "Sending…" : "Send test event"}
            </button>
            <button type="button" class="button button-secondary" onClick={() => setDialog("edit")}>
              Edit
            </button>
            <button
              type="button"
              class="button button-secondary"
              disabled={busy !== null}
              onClick={() => void act("toggle")}
            >
              {webhook.enabled ? "Disable" : "Enable"}
            </button>
            <button
              type="button"
              class="button button-secondary"
              onClick={() => setDialog("rotate")}
            >
              <RotateIcon />
              Rotate secret
            </button>
            <button
              type="button"
              class="button button-danger-outline"
              onClick={() => setDialog("delete")}
            >
              Delete
            </button>
          </>
        }
      >
        {back}
      </PageHeader>
      <FormError message={actionError} />
      {!webhook.enabled && (
        <p class="alert alert-warning" role="status">
          {webhook.disabled_reason === "failing"
            ? "Switched off after 24 hours of failed deliveries. Fix the receiver, then enable it: new events are sent again (redeliver the ones it missed)."
            : "Switched off: no events are sent to it until you enable it. A test event is still sent."}
        </p>
      )}
      {webhook.enabled && webhook.failing_since && (
        <p class="alert alert-warning" role="status">
          Deliveries have failed since {formatDateTime(webhook.failing_since)}. They are retried
          with backoff; after 24 hours of failures the endpoint is switched off.
        </p>
      )}

      <section class="card" aria-labelledby="endpoint-title">
        <h2 id="endpoint-title">Endpoint</h2>
        <dl class="key-meta">
          <div>
            <dt>Description</dt>
            <dd>{webhook.description ?? "—"}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{formatDateTime(webhook.created_at)}</dd>
          </div>
          <div>
            <dt>Updated</dt>
            <dd>{formatDateTime(webhook.updated_at)}</dd>
          </div>
        </dl>
        <div class="key-scopes">
          <span class="key-scopes-label">Events</span>
          <EventList events={webhook.events} />
        </div>
      </section>

      <DeliveryLog webhookId={webhook.id} reload={sent} enabled={webhook.enabled} />

      {dialog === "edit" && (
        <EditEndpointDialog
          webhook={webhook}
          onClose={() => setDialog(null)}
          onSaved={() => {
            setDialog(null);
            toast("Endpoint updated");
            void load();
          }}
        />
      )}
      {dialog === "rotate" && (
        <RotateSecretDialog
          webhook={webhook}
          onClose={() => setDialog(null)}
          onRotated={(rotated: CreatedWebhook) => {
            setDialog(null);
            setSecret(rotated.secret);
          }}
        />
      )}
      {secret && (
        <SecretDialog
          title="New signing secret"
          secret={secret}
          onDone={() => {
            setSecret(null);
            toast("Secret rotated");
          }}
        />
      )}
      {dialog === "delete" && (
        <DeleteEndpointDialog
          webhook={webhook}
          onClose={() => setDialog(null)}
          onDeleted={() => {
            setDialog(null);
            toast("Endpoint deleted");
            navigate("/webhooks");
          }}
        />
      )}
    </>
  );
}
