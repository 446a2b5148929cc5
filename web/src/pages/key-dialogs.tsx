import { useState } from "preact/hooks";
import { api, asApiError, localError, type ApiError } from "../api.js";
import { FormError, SelectField, TextAreaField, TextField } from "../components/field.js";
import { Modal } from "../components/modal.js";
import { SecretReveal } from "../components/secret.js";
import { toast } from "../components/ui.js";
import { navigate } from "../router.js";
import { ScopePicker, sortScopes } from "../scopes.js";
import type { ApiKey, CreatedKey, KeyDetails } from "../types.js";
import { useLimitsForm } from "./key-limits.js";

/** Edit (rename, narrow scopes, description, metadata) and Rotate, opened from a key's page. */

/** The metadata box's text as the API takes it: an object, null (empty), or why not. */
function parseMeta(text: string): { meta: Record<string, unknown> | null } | { error: string } {
  if (!text.trim()) return { meta: null };
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value))
      return { meta: value as Record<string, unknown> };
  } catch {
    // falls through to the message below
  }
  return { error: 'Metadata must be a JSON object, such as {"customer": "cus_123"}.' };
}

const metaText = (meta: Record<string, unknown> | null) =>
  meta ? JSON.stringify(meta, null, 2) : "";

/** Ending a key sooner: the choices the dialog offers (the API takes any earlier end). */
const SOONER = [
  { value: "", label: "Keep its current end" },
  { value: "1h", label: "In 1 hour" },
  { value: "24h", label: "In 24 hours" },
  { value: "7d", label: "In 7 days" },
  { value: "30d", label: "In 30 days" },
];

const addressText = (list: string[] | null) => (list ?? []).join(", ");

export function EditKeyDialog({
  apiKey,
  onClose,
  onSaved,
}: {
  apiKey: KeyDetails;
  onClose: () => void;
  onSaved: () => void;
}) {
  const [name, setName] = useState(apiKey.name);
  const [scopes, setScopes] = useState<Set<string>>(new Set(apiKey.scopes));
  const [description, setDescription] = useState(apiKey.description ?? "");
  const [meta, setMeta] = useState(metaText(apiKey.meta));
  const [sooner, setSooner] = useState("");
  const [addresses, setAddresses] = useState(addressText(apiKey.ip_allow));
  const limits = useLimitsForm(apiKey);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    const body: Record<string, unknown> = {};
    if (name.trim() !== apiKey.name) body.name = name.trim();
    if (scopes.size !== apiKey.scopes.length) body.scopes = sortScopes([...scopes]);
    if (description.trim() !== (apiKey.description ?? "")) body.description = description.trim();
    const parsed = parseMeta(meta);
    if ("error" in parsed) {
      setError(localError("", [{ field: "meta", message: parsed.error }]));
      return;
    }
    if (JSON.stringify(parsed.meta) !== JSON.stringify(apiKey.meta)) body.meta = parsed.meta;
    if (sooner) body.expires_in = sooner;
    if (addresses.trim() !== addressText(apiKey.ip_allow)) {
      const list = addresses.split(/[\s,]+/).filter(Boolean);
      body.ip_allow = list.length > 0 ? list : null;
    }
    const limited = limits.body();
    if ("field" in limited) {
      setError(localError("", [{ field: limited.field, message: limited.message }]));
      return;
    }
    Object.assign(body, limited.values);
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
    description: error?.fieldMessage("description") ?? null,
    meta: error?.fieldMessage("meta") ?? null,
    expires: error?.fieldMessage("expires_in") ?? null,
    limits:
      error?.fieldMessage("remaining") ??
      error?.fieldMessage("refill") ??
      error?.fieldMessage("ratelimits") ??
      null,
    addresses:
      error?.fieldMessage("ip_allow") ??
      (error?.code === "scope_not_grantable" || error?.code === "conflict" ? error.message : null),
  };
  const formError = error && !Object.values(fields).some(Boolean) ? error.message : null;
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
        <TextField
          label="Description"
          name="description"
          maxLength={500}
          placeholder="What the key is for"
          value={description}
          onInput={(e) => setDescription(e.currentTarget.value)}
          error={fields.description}
        />
        <TextAreaField
          label="Metadata (JSON)"
          name="meta"
          rows={5}
          spellcheck={false}
          class="mono"
          hint="A JSON object of up to 4 KiB that verification returns to your services. Empty removes it."
          value={meta}
          onInput={(e) => setMeta(e.currentTarget.value)}
          error={fields.meta}
        />
        <SelectField
          label="End the key"
          name="expires_in"
          value={sooner}
          onChange={(e) => setSooner(e.currentTarget.value)}
          hint={
            apiKey.expires_at
              ? `It ends ${new Date(apiKey.expires_at).toLocaleString()}; an end can only move earlier.`
              : "It never ends; an end, once set, can only move earlier."
          }
          error={fields.expires}
        >
          {SOONER.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </SelectField>
        <TextField
          label="Allowed addresses"
          name="ip_allow"
          placeholder="Any address"
          autoComplete="off"
          spellcheck={false}
          hint="IPv4/IPv6 addresses or CIDR ranges, separated by commas; empty allows any address."
          value={addresses}
          onInput={(e) => setAddresses(e.currentTarget.value)}
          error={fields.addresses}
        />
        {limits.fields(error)}
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
