/** The Webhooks pages' dialogs (SPEC §11): add, edit, rotate the secret, delete. */
import { useEffect, useId, useState } from "preact/hooks";
import { api, asApiError, localError, type ApiError } from "../api.js";
import { FieldError, FormError, TextField } from "../components/field.js";
import { ConfirmDialog } from "../components/confirm.js";
import { Modal } from "../components/modal.js";
import { SecretReveal } from "../components/secret.js";
import { Spinner } from "../components/ui.js";
import { useSubmit } from "../components/use-submit.js";
import type { CreatedWebhook, EventType, Webhook } from "../types.js";

let eventTypes: Promise<EventType[]> | null = null;

/** The event catalogue, asked for once per page load (a failure is asked again next time). */
function useEventTypes(): { types: EventType[] | null; error: string | null } {
  const [types, setTypes] = useState<EventType[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    eventTypes ??= api
      .get<{ event_types: EventType[] }>("/v1/webhooks/event-types")
      .then((body) => body.event_types);
    eventTypes.then(setTypes, (caught: unknown) => {
      eventTypes = null;
      setError(asApiError(caught, "could not load the event types").message);
    });
  }, []);
  return { types, error };
}

function EventPicker({
  selected,
  onChange,
  error,
}: {
  selected: ReadonlySet<string>;
  onChange: (next: Set<string>) => void;
  error: string | null;
}) {
  const id = useId();
  const { types, error: loadError } = useEventTypes();
  const toggle = (type: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(type);
    else next.delete(type);
    onChange(next);
  };
  return (
    <fieldset
      class={error ? "field has-error" : "field"}
      aria-describedby={`${id}-hint${error ? ` ${id}-error` : ""}`}
    >
      <legend>Events</legend>
      <p id={`${id}-hint`} class="hint">
        Only the events you choose are sent to this endpoint.
      </p>
      <FormError message={loadError} />
      {!types && !loadError && <Spinner label="Loading events" />}
      {types && (
        <div class="event-grid">
          {types.map((t) => (
            <label key={t.type} class="check event-check">
              <input
                type="checkbox"
                name="events"
                value={t.type}
                checked={selected.has(t.type)}
                onChange={(e) => toggle(t.type, e.currentTarget.checked)}
              />
              <span>
                <span class="mono">{t.type}</span>
                <span class="hint">{t.description}</span>
              </span>
            </label>
          ))}
        </div>
      )}
      <FieldError id={`${id}-error`} message={error} />
    </fieldset>
  );
}

/** Where the API's complaint goes: beside the URL, the events, the description, or above. */
function problems(error: ApiError | null) {
  const url =
    error?.fieldMessage("url") ??
    (error?.code === "webhook_url_not_allowed" ? error.message : null);
  const events = error?.fieldMessage("events") ?? null;
  const description = error?.fieldMessage("description") ?? null;
  const form = error && !url && !events && !description ? error.message : null;
  return { url, events, description, form };
}

interface EndpointValues {
  url: string;
  description: string;
  events: Set<string>;
}

function EndpointFields({
  values,
  onChange,
  error,
}: {
  values: EndpointValues;
  onChange: (next: EndpointValues) => void;
  error: ApiError | null;
}) {
  const shown = problems(error);
  return (
    <>
      <FormError message={shown.form} />
      <TextField
        label="Endpoint URL"
        name="url"
        type="url"
        inputMode="url"
        autoComplete="off"
        spellcheck={false}
        placeholder="https://example.com/webhooks/latchkey"
        hint="Latchkey sends each event as a signed POST to this address."
        value={values.url}
        onInput={(e) => onChange({ ...values, url: e.currentTarget.value })}
        error={shown.url}
      />
      <TextField
        label="Description (optional)"
        name="description"
        maxLength={200}
        autoComplete="off"
        value={values.description}
        onInput={(e) => onChange({ ...values, description: e.currentTarget.value })}
        error={shown.description}
      />
      <EventPicker
        selected={values.events}
        onChange={(events) => onChange({ ...values, events })}
        error={shown.events}
      />
    </>
  );
}

const noEvents = () => localError("", [{ field: "events", message: "choose at least one event" }]);

export function AddEndpointDialog({
  onClose,
  onCreated,
}: {
  onClose: () => void;
  onCreated: (created: CreatedWebhook) => void;
}) {
  const [values, setValues] = useState<EndpointValues>({
    url: "",
    description: "",
    events: new Set(),
  });
  const submit = useSubmit(async () => {
    if (values.events.size === 0) throw noEvents();
    const description = values.description.trim();
    return api.post<CreatedWebhook>("/v1/webhooks", {
      url: values.url.trim(),
      events: [...values.events],
      ...(description ? { description } : {}),
    });
  }, onCreated);
  return (
    <Modal title="Add endpoint" onClose={onClose} wide>
      <form onSubmit={submit.run} noValidate>
        <EndpointFields values={values} onChange={setValues} error={submit.error} />
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={submit.busy}>
            {submit.busy ? "Adding…" : "Add endpoint"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function EditEndpointDialog({
  webhook,
  onClose,
  onSaved,
}: {
  webhook: Webhook;
  onClose: () => void;
  onSaved: () => void;
}) {
  const [values, setValues] = useState<EndpointValues>({
    url: webhook.url,
    description: webhook.description ?? "",
    events: new Set(webhook.events),
  });
  const submit = useSubmit(
    async () => {
      if (values.events.size === 0) throw noEvents();
      const body: Record<string, unknown> = {};
      if (values.url.trim() !== webhook.url) body.url = values.url.trim();
      const description = values.description.trim();
      if (description !== (webhook.description ?? "")) body.description = description || null;
      const events = [...values.events].sort();
      if (events.join() !== [...webhook.events].sort().join()) body.events = events;
      if (Object.keys(body).length === 0) return false;
      await api.patch(`/v1/webhooks/${encodeURIComponent(webhook.id)}`, body);
      return true;
    },
    (changed) => (changed ? onSaved() : onClose()),
  );
  return (
    <Modal title="Edit endpoint" onClose={onClose} wide>
      <form onSubmit={submit.run} noValidate>
        <EndpointFields values={values} onChange={setValues} error={submit.error} />
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={submit.busy}>
            {submit.busy ? "Saving…" : "Save changes"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** The one time an endpoint's signing secret is shown. */
export function SecretDialog({
  title,
  secret,
  onDone,
}: {
  title: string;
  secret: string;
  onDone: () => void;
}) {
  return (
    <Modal title={title} onClose={onDone}>
      <SecretReveal
        secret={secret}
        onDone={onDone}
        copyLabel="Copy secret"
        testId="webhook-secret"
        warning={
          <>
            <strong>Copy this signing secret now.</strong> You will not see it again: to get another
            one, rotate the secret.
          </>
        }
        hint={
          <>
            Your receiver checks the <code>webhook-signature</code> header with it (Standard
            Webhooks), e.g. <code>verifyWebhook(payload, headers, secret)</code> from the SDK.
          </>
        }
      />
    </Modal>
  );
}

export function RotateSecretDialog({
  webhook,
  onClose,
  onRotated,
}: {
  webhook: Webhook;
  onClose: () => void;
  onRotated: (created: CreatedWebhook) => void;
}) {
  return (
    <ConfirmDialog
      title="Rotate the signing secret?"
      action="Rotate secret"
      busy="Rotating…"
      tone="primary"
      run={() =>
        api.post<CreatedWebhook>(`/v1/webhooks/${encodeURIComponent(webhook.id)}/rotate-secret`)
      }
      onDone={onRotated}
      onClose={onClose}
    >
      <p>
        A new secret signs every delivery from now on, and the old one stops at once: deliveries
        fail verification until your receiver has the new one.
      </p>
    </ConfirmDialog>
  );
}

export function DeleteEndpointDialog({
  webhook,
  onClose,
  onDeleted,
}: {
  webhook: Webhook;
  onClose: () => void;
  onDeleted: () => void;
}) {
  return (
    <ConfirmDialog
      title="Delete this endpoint?"
      action="Delete endpoint"
      busy="Deleting…"
      run={() => api.delete(`/v1/webhooks/${encodeURIComponent(webhook.id)}`)}
      onDone={onDeleted}
      onClose={onClose}
    >
      <p>
        Nothing more is sent to <code class="break">{webhook.url}</code>, and its delivery log is
        deleted with it. This cannot be undone.
      </p>
    </ConfirmDialog>
  );
}
