import { useCallback, useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api.js";
import { FormError } from "../components/field.js";
import { PlusIcon } from "../components/icons.js";
import { Modal } from "../components/modal.js";
import { EmptyState, EnvBadge, PageHeader, Spinner, StatusBadge, toast } from "../components/ui.js";
import { ago, formatCount, formatDate, formatDateTime, plural } from "../format.js";
import { Link } from "../router.js";
import { ScopeList } from "../scopes.js";
import { isPlan, PLAN_KEY_LIMITS } from "../../../src/core/plans.js";
import type { ApiKey, KeyList, Whoami } from "../types.js";
import { usePortalMeta, useProjectNames } from "../meta.js";
import { LeakBadge } from "./key-leak.js";
import { NewKeyDialog } from "./new-key.js";

const ORDER = { active: 0, expired: 1, revoked: 2 } as const;

export function KeysPage({ me }: { me: Whoami }) {
  const meta = usePortalMeta();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const projects = useProjectNames();

  const load = useCallback(async () => {
    try {
      const list = (await api.get<KeyList>("/v1/api-keys")).api_keys;
      list.sort(
        (a, b) => ORDER[a.status] - ORDER[b.status] || b.created_at.localeCompare(a.created_at),
      );
      setKeys(list);
      setLoadError(null);
    } catch (error) {
      setLoadError(error instanceof Error ? error.message : "could not load your keys");
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const active = keys?.filter((k) => k.status === "active").length ?? 0;
  const limit = isPlan(me.plan) ? PLAN_KEY_LIMITS[me.plan] : null;
  const planName = me.plan[0]!.toUpperCase() + me.plan.slice(1);

  return (
    <>
      <PageHeader
        title="API keys"
        description="Keys let scripts, CI pipelines and services call the API as you — with only the scopes you give them."
        actions={
          <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
            <PlusIcon />
            New key
          </button>
        }
      />
      {meta.require_verified_email && !me.email_verified && (
        <div class="alert alert-warning" role="status">
          <span>
            Verify your email address before creating keys: open the link we mailed to {me.email},
            or send a new one from <Link href="/security">Security</Link>.
          </span>
        </div>
      )}
      {keys && (
        <p class="plan-usage">
          <span>
            <strong>{limit === null ? formatCount(active) : `${active} of ${limit}`}</strong> active
            keys on the {planName} plan
          </span>
          {limit !== null && (
            <svg
              class="plan-meter"
              viewBox="0 0 100 4"
              preserveAspectRatio="none"
              aria-hidden="true"
            >
              <rect class="bar-track-bg" width="100" height="4" />
              <rect
                class={active >= limit ? "bar-track-fill full" : "bar-track-fill"}
                width={Math.min(100, (active / limit) * 100)}
                height="4"
              />
            </svg>
          )}
        </p>
      )}
      {keys && limit !== null && active >= limit && (
        <p class="alert alert-warning">
          You have {limit} active keys, the most the {planName} plan allows. Revoke one to create
          another — rotating a key still works.
        </p>
      )}
      <FormError message={loadError} />
      {!keys && !loadError && <Spinner label="Loading keys" />}
      {keys && keys.length === 0 && (
        <EmptyState title="No API keys yet">
          <p class="muted">Create a key for your CI pipeline, a deploy script or a cron job.</p>
          <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
            <PlusIcon />
            Create your first key
          </button>
        </EmptyState>
      )}
      {keys && keys.length > 0 && (
        <ul class="key-list" aria-label="API keys">
          {keys.map((key) => (
            <KeyCard
              key={key.id}
              apiKey={key}
              project={key.project_id ? (projects.get(key.project_id) ?? key.project_id) : null}
              onRevoke={() => setRevoking(key)}
            />
          ))}
        </ul>
      )}
      {creating && (
        <NewKeyDialog me={me} onClose={() => setCreating(false)} onCreated={() => void load()} />
      )}
      {revoking && (
        <RevokeDialog
          apiKey={revoking}
          onClose={() => setRevoking(null)}
          onRevoked={() => {
            setRevoking(null);
            toast(`“${revoking.name}” was revoked`);
            void load();
          }}
        />
      )}
    </>
  );
}

function KeyCard({
  apiKey: key,
  project,
  onRevoke,
}: {
  apiKey: ApiKey;
  project: string | null;
  onRevoke: () => void;
}) {
  const expiresSoon =
    key.expires_at &&
    key.status === "active" &&
    Date.parse(key.expires_at) - Date.now() < 7 * 86_400_000;
  return (
    <li class={`key-card key-${key.status}`} data-key-id={key.id}>
      <div class="key-card-head">
        <div class="key-card-title">
          <h2>
            <Link href={`/keys/${encodeURIComponent(key.id)}`}>{key.name}</Link>
          </h2>
          <EnvBadge environment={key.environment} />
          <StatusBadge status={key.status} enabled={key.enabled} />
          <LeakBadge apiKey={key} />
        </div>
        {key.status !== "revoked" && (
          <button
            type="button"
            class="button button-danger-outline button-small"
            onClick={onRevoke}
            aria-label={`Revoke ${key.name}`}
          >
            Revoke
          </button>
        )}
      </div>
      <code class="key-prefix">{key.prefix}…</code>
      <dl class="key-meta">
        <div>
          <dt>Created</dt>
          <dd>{formatDate(key.created_at)}</dd>
        </div>
        <div>
          <dt>Last used</dt>
          <dd title={key.last_used_at ? formatDateTime(key.last_used_at) : undefined}>
            {ago(key.last_used_at)}
          </dd>
        </div>
        <div>
          <dt>Usage</dt>
          <dd>{plural(key.usage_count, "call")}</dd>
        </div>
        <div>
          <dt>{key.status === "expired" ? "Expired" : "Expires"}</dt>
          <dd class={expiresSoon ? "text-warning" : undefined}>
            {key.expires_at ? formatDate(key.expires_at) : "Never"}
          </dd>
        </div>
        {project && (
          <div>
            <dt>Project</dt>
            <dd>{project}</dd>
          </div>
        )}
      </dl>
      <div class="key-scopes">
        <span class="key-scopes-label">Scopes</span>
        <ScopeList scopes={key.scopes} />
      </div>
    </li>
  );
}

export function RevokeDialog({
  apiKey,
  onClose,
  onRevoked,
}: {
  apiKey: ApiKey;
  onClose: () => void;
  onRevoked: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const revoke = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.delete(`/v1/api-keys/${encodeURIComponent(apiKey.id)}`);
      onRevoked();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : "could not revoke the key");
      setBusy(false);
    }
  };
  return (
    <Modal title={`Revoke “${apiKey.name}”?`} onClose={onClose}>
      <FormError message={error} />
      <p>
        Every request that uses <code>{apiKey.prefix}…</code> will be refused from the moment you
        confirm. This cannot be undone.
      </p>
      <div class="modal-actions">
        <button type="button" class="button button-secondary" onClick={onClose} autoFocus>
          Cancel
        </button>
        <button type="button" class="button button-danger" onClick={revoke} disabled={busy}>
          {busy ? "Revoking…" : "Revoke key"}
        </button>
      </div>
    </Modal>
  );
}
