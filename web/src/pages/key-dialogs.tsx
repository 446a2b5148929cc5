import { useState } from "preact/hooks";
import { api, asApiError, localError, type ApiError } from "../api.js";
import { FormError, SelectField, TextField } from "../components/field.js";
import { Modal } from "../components/modal.js";
import { SecretReveal } from "../components/secret.js";
import { toast } from "../components/ui.js";
import { navigate } from "../router.js";
import { ScopePicker, sortScopes } from "../scopes.js";
import type { ApiKey, CreatedKey } from "../types.js";

/** Edit (rename, narrow scopes) and Rotate, opened from a key's page. */

export function EditKeyDialog({
  apiKey,
  onClose,
  onSaved,
}: {
  apiKey: ApiKey;
  onClose: () => void;
  onSaved: () => void;
}) {
  const [name, setName] = useState(apiKey.name);
  const [scopes, setScopes] = useState<Set<string>>(new Set(apiKey.scopes));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    const body: Record<string, unknown> = {};
    if (name.trim() !== apiKey.name) body.name = name.trim();
    if (scopes.size !== apiKey.scopes.length) body.scopes = sortScopes([...scopes]);
    if (Object.keys(body).length === 0) return onClose();
    if (scopes.size === 0) {
      setError(
        localError("", [
          { field: "scopes", message: "A key needs at least one scope; revoke it instead." },
        ]),
      );
      return;
    }
    setBusy(true);
    try {
      await api.patch(`/v1/api-keys/${encodeURIComponent(apiKey.id)}`, body);
      onSaved();
    } catch (caught) {
      setError(asApiError(caught));
      setBusy(false);
    }
  };

  const fields = {
    name: error?.fieldMessage("name") ?? null,
    scopes:
      error?.fieldMessage("scopes") ?? (error?.code.startsWith("scope_") ? error.message : null),
  };
  const formError = error && !fields.name && !fields.scopes ? error.message : null;
  return (
    <Modal title="Edit key" onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <FormError message={formError} />
        <TextField
          label="Name"
          name="name"
          maxLength={100}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          error={fields.name}
        />
        <ScopePicker
          legend="Scopes"
          hint="Scopes can only be narrowed. To grant more, create a new key."
          options={sortScopes(apiKey.scopes)}
          selected={scopes}
          onChange={setScopes}
          error={fields.scopes}
        />
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? "Saving…" : "Save changes"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

const OVERLAPS = [
  { value: "1h", label: "1 hour" },
  { value: "24h", label: "24 hours" },
  { value: "7d", label: "7 days" },
  { value: "", label: "Until I revoke it" },
];

export function RotateDialog({ apiKey, onClose }: { apiKey: ApiKey; onClose: () => void }) {
  const [overlap, setOverlap] = useState("24h");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [rotated, setRotated] = useState<{ secret: string; id: string } | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = overlap ? { expire_old_in: overlap } : {};
      const created = await api.post<CreatedKey>(
        `/v1/api-keys/${encodeURIComponent(apiKey.id)}/rotate`,
        body,
      );
      setRotated({ secret: created.key, id: created.id });
    } catch (caught) {
      setError(asApiError(caught));
      setBusy(false);
    }
  };

  if (rotated) {
    const done = () => {
      onClose();
      toast("Key rotated");
      navigate(`/keys/${encodeURIComponent(rotated.id)}`);
    };
    return (
      <Modal title="Your rotated key" onClose={done}>
        <SecretReveal secret={rotated.secret} onDone={done} />
      </Modal>
    );
  }

  const overlapError = error?.fieldMessage("expire_old_in") ?? null;
  return (
    <Modal title={`Rotate “${apiKey.name}”`} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <FormError message={error && !overlapError ? error.message : null} />
        <p>
          A new key is created with the same name, scopes, environment and project. Deploy it, then
          let the old key lapse — there is no downtime.
        </p>
        <SelectField
          label="Keep the old key working for"
          name="expire_old_in"
          value={overlap}
          onChange={(e) => setOverlap(e.currentTarget.value)}
          error={overlapError}
        >
          {OVERLAPS.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </SelectField>
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? "Rotating…" : "Rotate key"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
