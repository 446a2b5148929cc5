/**
 * An organization's settings (SPEC §10): its name, its policies (held for every key it owns,
 * at once), deleting it, and its audit log for owners and admins. Policy changes and deletion
 * ask for a recent sign-in (step-up), as the server does.
 */
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, asApiError } from "../api.js";
import { ConfirmDialog } from "../components/confirm.js";
import { FormError, TextField } from "../components/field.js";
import { PageHeader, Spinner, toast } from "../components/ui.js";
import { useSubmit } from "../components/use-submit.js";
import { formatDateTime } from "../format.js";
import { setCurrentOrg } from "../org.js";
import { navigate } from "../router.js";
import type { AuditEntry, Org, OrgPolicy } from "../types.js";

const list = (text: string): string[] | null => {
  const items = text.split(/[\s,]+/).filter(Boolean);
  return items.length === 0 ? null : items;
};

export function OrganizationPage({ org, onChanged }: { org: Org; onChanged: () => Promise<void> }) {
  const base = `/v1/orgs/${encodeURIComponent(org.id)}`;
  const manages = org.role === "owner" || org.role === "admin";
  const [name, setName] = useState(org.name);
  const rename = useSubmit(
    () => api.patch<Org>(base, { name }),
    async () => {
      toast("Renamed");
      await onChanged();
    },
  );
  const [deleting, setDeleting] = useState(false);
  return (
    <>
      <PageHeader
        title={org.name}
        description={`Your role: ${org.role ?? "-"} · plan: ${org.plan}. Its policies hold for every key the organization owns.`}
      />
      {manages && (
        <section class="card" aria-label="Name">
          <form onSubmit={(event) => void rename.run(event)}>
            <FormError message={rename.error?.message} />
            <TextField
              label="Name"
              value={name}
              required
              maxLength={100}
              onInput={(event) => setName((event.target as HTMLInputElement).value)}
            />
            <button type="submit" class="button button-secondary" disabled={rename.busy}>
              {rename.busy ? "Saving…" : "Rename"}
            </button>
          </form>
        </section>
      )}
      <PolicyCard base={base} initial={org.policy} editable={manages} />
      {manages && <AuditCard base={base} />}
      {org.role === "owner" && (
        <section class="card" aria-label="Delete">
          <div class="card-head">
            <h2>Delete the organization</h2>
          </div>
          <p class="muted">
            Every key it owns is revoked, its members and pending invitations go. Its audit log
            stays.
          </p>
          <button type="button" class="button button-danger" onClick={() => setDeleting(true)}>
            Delete organization
          </button>
        </section>
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete ${org.name}?`}
          action="Delete and revoke its keys"
          busy="Deleting…"
          run={() => api.delete(`${base}?revoke_keys=true`)}
          onClose={() => setDeleting(false)}
          onDone={async () => {
            setDeleting(false);
            setCurrentOrg(null);
            await onChanged();
            toast(`${org.name} deleted`);
            navigate("/keys");
          }}
        >
          <p>Every API key the organization owns stops working at once. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function PolicyCard({
  base,
  initial,
  editable,
}: {
  base: string;
  initial: OrgPolicy;
  editable: boolean;
}) {
  const [lifetime, setLifetime] = useState(initial.max_key_lifetime ?? "");
  const [require2fa, setRequire2fa] = useState(initial.require_2fa);
  const [environments, setEnvironments] = useState(initial.allowed_environments?.join(", ") ?? "");
  const [ipAllow, setIpAllow] = useState(initial.ip_allow?.join(", ") ?? "");
  const [scopes, setScopes] = useState(initial.allowed_scopes?.join(", ") ?? "");
  const save = useSubmit(
    () =>
      api.patch<OrgPolicy>(`${base}/policy`, {
        max_key_lifetime: lifetime.trim() || null,
        require_2fa: require2fa,
        allowed_environments: list(environments),
        ip_allow: list(ipAllow),
        allowed_scopes: list(scopes),
      }),
    () => toast("Policies saved"),
  );
  const input = (set: (value: string) => void) => (event: Event) =>
    set((event.target as HTMLInputElement).value);
  return (
    <section class="card" aria-label="Policies">
      <div class="card-head">
        <h2>Policies</h2>
      </div>
      <form onSubmit={(event) => void save.run(event)}>
        <FormError message={save.error?.message} />
        <fieldset disabled={!editable} class="plain-fieldset">
          <TextField
            label="Maximum key lifetime"
            hint="e.g. 90d; keys must expire within it (longer ones are shortened). Empty: no limit."
            value={lifetime}
            onInput={input(setLifetime)}
          />
          <label class="check">
            <input
              type="checkbox"
              checked={require2fa}
              onChange={(event) => setRequire2fa((event.target as HTMLInputElement).checked)}
            />
            Require two-factor authentication of members
          </label>
          <TextField
            label="Allowed environments"
            hint="live, test — empty: both"
            value={environments}
            onInput={input(setEnvironments)}
          />
          <TextField
            label="IP allowlist"
            hint="CIDR ranges every organization key must be used from — empty: any address"
            value={ipAllow}
            onInput={input(setIpAllow)}
          />
          <TextField
            label="Allowed scopes"
            hint="the most an organization key may have, e.g. services:read, logs:read — empty: every scope"
            value={scopes}
            onInput={input(setScopes)}
          />
        </fieldset>
        {editable && (
          <button type="submit" class="button button-primary" disabled={save.busy}>
            {save.busy ? "Saving…" : "Save policies"}
          </button>
        )}
      </form>
    </section>
  );
}

function AuditCard({ base }: { base: string }) {
  const [events, setEvents] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setEvents((await api.get<{ events: AuditEntry[] }>(`${base}/audit-log?limit=50`)).events);
    } catch (caught) {
      setError(asApiError(caught, "could not load the audit log").message);
    }
  }, [base]);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section class="card" aria-label="Audit log">
      <div class="card-head">
        <h2>Audit log</h2>
      </div>
      <FormError message={error} />
      {!events && !error && <Spinner label="Loading the audit log" />}
      {events && (
        <div class="table-wrap">
          <table class="table table-stack">
            <thead>
              <tr>
                <th>When</th>
                <th>Event</th>
                <th>By</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id}>
                  <td data-label="When">{formatDateTime(e.at)}</td>
                  <td data-label="Event" class="mono">
                    {e.event}
                  </td>
                  <td data-label="By" class="mono">
                    {e.actor ?? "-"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
