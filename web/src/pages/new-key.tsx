import { useEffect, useState } from "preact/hooks";
import { api, asApiError, localError, type ApiError } from "../api.js";
import { FormError, SelectField, TextField } from "../components/field.js";
import { Modal } from "../components/modal.js";
import { SecretReveal } from "../components/secret.js";
import { usePortalMeta } from "../meta.js";
import { ScopePicker, sortScopes } from "../scopes.js";
import type { ApiKey, CreatedKey, Project, ProjectList, Whoami } from "../types.js";
import { useLimitsForm } from "./key-limits.js";

const EXPIRATIONS = [
  { value: "30d", label: "30 days" },
  { value: "90d", label: "90 days" },
  { value: "1y", label: "1 year" },
  { value: "7d", label: "7 days" },
  { value: "24h", label: "24 hours" },
  { value: "", label: "No expiration" },
];

interface Props {
  me: Whoami;
  onClose: () => void;
  onCreated: (key: ApiKey) => void;
}

/** The New key dialog (seed 001): configure, create, then show the secret once. */
export function NewKeyDialog({ me, onClose, onCreated }: Props) {
  const { key_prefix: brand } = usePortalMeta();
  const [name, setName] = useState("");
  const [environment, setEnvironment] = useState<"live" | "test">("live");
  const [scopes, setScopes] = useState<Set<string>>(new Set());
  const [expiresIn, setExpiresIn] = useState("90d");
  const [projectId, setProjectId] = useState("");
  const [description, setDescription] = useState("");
  const [projects, setProjects] = useState<Project[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const limits = useLimitsForm(null);

  useEffect(() => {
    api
      .get<ProjectList>("/v1/projects")
      .then((body) => setProjects(body.projects))
      .catch(() => setProjects([]));
  }, []);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    if (!name.trim()) {
      setError(localError("", [{ field: "name", message: "Give the key a name." }]));
      return;
    }
    if (scopes.size === 0) {
      setError(localError("", [{ field: "scopes", message: "Choose at least one scope." }]));
      return;
    }
    const limited = limits.body();
    if ("field" in limited) {
      setError(localError("", [{ field: limited.field, message: limited.message }]));
      return;
    }
    setBusy(true);
    try {
      const body: Record<string, unknown> = {
        name: name.trim(),
        scopes: [...scopes],
        environment,
        ...limited.values,
      };
      if (expiresIn) body.expires_in = expiresIn;
      if (projectId) body.project_id = projectId;
      if (description.trim()) body.description = description.trim();
      const created = await api.post<CreatedKey>("/v1/api-keys", body);
      setSecret(created.key);
      onCreated(created);
    } catch (caught) {
      setError(asApiError(caught));
    } finally {
      setBusy(false);
    }
  };

  if (secret) {
    return (
      <Modal title="Your new API key" onClose={onClose}>
        <SecretReveal secret={secret} onDone={onClose} />
      </Modal>
    );
  }

  const scopeError =
    error?.fieldMessage("scopes") ??
    (error?.code === "scope_not_grantable" || error?.code === "scope_insufficient"
      ? error.message
      : null);
  const fields = {
    name: error?.fieldMessage("name") ?? null,
    scopes: scopeError,
    expires: error?.fieldMessage("expires_in") ?? error?.fieldMessage("expires_at") ?? null,
    project:
      error?.fieldMessage("project_id") ??
      (error?.code === "project_mismatch" ? error.message : null),
    environment: error?.fieldMessage("environment") ?? null,
    description: error?.fieldMessage("description") ?? null,
    limits:
      error?.fieldMessage("remaining") ??
      error?.fieldMessage("refill") ??
      error?.fieldMessage("ratelimits") ??
      null,
  };
  const formError = error && !Object.values(fields).some(Boolean) ? error.message : null;

  return (
    <Modal title="Create API key" onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <FormError message={formError} />
        <TextField
          label="Name"
          name="name"
          placeholder="CI/CD pipeline"
          maxLength={100}
          autoComplete="off"
          autoFocus
          required
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          hint="Something that tells you later where this key is used."
          error={fields.name}
        />
        <TextField
          label="Description (optional)"
          name="description"
          maxLength={500}
          autoComplete="off"
          value={description}
          onInput={(e) => setDescription(e.currentTarget.value)}
          error={fields.description}
        />
        <fieldset class="field">
          <legend>Environment</legend>
          <div class="radio-row">
            <label class="radio-card">
              <input
                type="radio"
                name="environment"
                value="live"
                checked={environment === "live"}
                onChange={() => setEnvironment("live")}
              />
              <span>
                <strong>Live</strong> <code>{brand}_live_</code>
                <span class="hint">Real data, standard rate limits</span>
              </span>
            </label>
            <label class="radio-card">
              <input
                type="radio"
                name="environment"
                value="test"
                checked={environment === "test"}
                onChange={() => setEnvironment("test")}
              />
              <span>
                <strong>Test</strong> <code>{brand}_test_</code>
                <span class="hint">Test data only, relaxed limits</span>
              </span>
            </label>
          </div>
        </fieldset>
        <ScopePicker
          legend="Scopes"
          hint="Grant only what the key needs. A key can never do more than you can."
          options={sortScopes(me.scopes)}
          selected={scopes}
          onChange={setScopes}
          error={fields.scopes}
        />
        <div class="field-row">
          <SelectField
            label="Expiration"
            name="expires_in"
            value={expiresIn}
            onChange={(e) => setExpiresIn(e.currentTarget.value)}
            error={fields.expires}
          >
            {EXPIRATIONS.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </SelectField>
          <SelectField
            label="Project restriction"
            name="project_id"
            value={projectId}
            onChange={(e) => setProjectId(e.currentTarget.value)}
            error={fields.project}
          >
            <option value="">All projects</option>
            {projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </SelectField>
        </div>
        {limits.fields(error)}
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? "Creating…" : "Create key"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
