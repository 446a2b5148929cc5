import { useCallback, useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api.js";
import { BarList, CallsOverTime } from "../components/charts.js";
import { FormError } from "../components/field.js";
import { ArrowLeftIcon, RotateIcon } from "../components/icons.js";
import {
  Badge,
  EmptyState,
  EnvBadge,
  PageHeader,
  Spinner,
  StatusBadge,
  toast,
} from "../components/ui.js";
import { ago, formatCount, formatDate, formatDateTime, relative } from "../format.js";
import { Link } from "../router.js";
import { ScopeList } from "../scopes.js";
import type { Activity, Count, KeyActivity, KeyDetails, KeyUsage, Whoami } from "../types.js";
import { useProjectNames } from "../meta.js";
import { EditKeyDialog, RotateDialog } from "./key-dialogs.js";
import { isQuarantined, LeakBadge, LeakBanner } from "./key-leak.js";
import { KeyLimitsCard } from "./key-limits.js";
import { RevokeDialog } from "./keys.js";

type Dialog = "edit" | "rotate" | "revoke" | null;

export function KeyDetailsPage({ id }: { id: string; me: Whoami }) {
  const [key, setKey] = useState<KeyDetails | null>(null);
  const [activity, setActivity] = useState<Activity[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [toggling, setToggling] = useState(false);
  const projects = useProjectNames();

  const load = useCallback(async () => {
    const path = `/v1/api-keys/${encodeURIComponent(id)}`;
    try {
      setKey(await api.get<KeyDetails>(path));
      setError(null);
    } catch (caught) {
      setError(
        caught instanceof ApiError && caught.status === 404
          ? "This key does not exist, or it is not yours."
          : String((caught as Error).message),
      );
    }
    api
      .get<KeyActivity>(`${path}/activity`)
      .then((body) => setActivity(body.activity))
      .catch(() => setActivity([]));
  }, [id]);

  useEffect(() => {
    setKey(null);
    void load();
  }, [load]);

  const back = (
    <Link href="/keys" class="back-link">
      <ArrowLeftIcon />
      API keys
    </Link>
  );

  if (error) {
    return (
      <>
        <PageHeader title="Key not found">{back}</PageHeader>
        <FormError message={error} />
      </>
    );
  }
  if (!key) return <Spinner label="Loading key" />;

  /** Disable pauses the key (refused as key_disabled everywhere); Enable resumes it. */
  const toggleEnabled = async () => {
    setToggling(true);
    try {
      const path = `/v1/api-keys/${encodeURIComponent(key.id)}`;
      const changed = await api.patch<KeyDetails>(path, { enabled: !key.enabled });
      toast(
        changed.enabled ? "Key enabled" : "Key disabled: every use is refused until you enable it",
      );
      await load();
    } catch (caught) {
      toast(String((caught as Error).message));
    } finally {
      setToggling(false);
    }
  };
  const usage = chartsOf(key.usage);
  const exchanges = exchangesOf(key.usage, activity);

  const live = key.status !== "revoked";
  return (
    <>
      <PageHeader
        title={key.name}
        meta={
          <div class="title-badges">
            <EnvBadge environment={key.environment} />
            <StatusBadge status={key.status} enabled={key.enabled} />
            <LeakBadge apiKey={key} />
            <code class="key-prefix">{key.prefix}…</code>
          </div>
        }
        actions={
          live && (
            <>
              <button
                type="button"
                class="button button-secondary"
                onClick={() => setDialog("edit")}
              >
                Edit
              </button>
              {/* A quarantined key is released from its leak banner, which says what that means. */}
              {!isQuarantined(key) && (
                <button
                  type="button"
                  class="button button-secondary"
                  disabled={toggling}
                  onClick={() => void toggleEnabled()}
                >
                  {key.enabled ? "Disable" : "Enable"}
                </button>
              )}
              <button
                type="button"
                class="button button-secondary"
                disabled={!key.enabled}
                title={key.enabled ? undefined : "Enable the key to rotate it"}
                onClick={() => setDialog("rotate")}
              >
                <RotateIcon />
                Rotate
              </button>
              <button
                type="button"
                class="button button-danger-outline"
                onClick={() => setDialog("revoke")}
              >
                Revoke
              </button>
            </>
          )
        }
      >
        {back}
      </PageHeader>

      <LeakBanner
        apiKey={key}
        onRevoke={() => setDialog("revoke")}
        onReleased={() => {
          toast("Key released: it works again");
          void load();
        }}
      />

      <section class="stats" aria-label="Overview">
        <Stat label="Created" value={formatDate(key.created_at)} />
        <Stat
          label="Last used"
          value={ago(key.last_used_at)}
          title={key.last_used_at ? formatDateTime(key.last_used_at) : undefined}
        />
        <Stat label="Total calls" value={formatCount(key.usage_count)} />
        <Stat
          label={
            key.status === "revoked" ? "Revoked" : key.status === "expired" ? "Expired" : "Expires"
          }
          value={
            key.status === "revoked"
              ? formatDate(key.revoked_at)
              : key.expires_at
                ? formatDate(key.expires_at)
                : "Never"
          }
          title={key.expires_at && key.status === "active" ? relative(key.expires_at) : undefined}
        />
      </section>

      {(key.description || key.meta) && (
        <section class="card" aria-labelledby="about-title">
          <div class="card-head">
            <h2 id="about-title">About this key</h2>
            <span class="muted small">
              Metadata is returned to your services when they verify it
            </span>
          </div>
          {key.description && <p class="key-description">{key.description}</p>}
          {key.meta && (
            <pre class="key-meta mono" aria-label="Metadata">
              {JSON.stringify(key.meta, null, 2)}
            </pre>
          )}
        </section>
      )}

      <KeyLimitsCard apiKey={key} />

      <section class="card" aria-labelledby="scopes-title">
        <div class="card-head">
          <h2 id="scopes-title">Scopes</h2>
          <span class="muted small">
            {key.project_id ? (
              <>
                Restricted to project{" "}
                <strong>{projects.get(key.project_id) ?? key.project_id}</strong>
              </>
            ) : (
              "All projects"
            )}
          </span>
        </div>
        <ScopeList scopes={key.scopes} />
      </section>

      {exchanges && (
        <section class="card" aria-labelledby="exchange-title">
          <div class="card-head">
            <h2 id="exchange-title">Short-lived tokens</h2>
            <span class="muted small">
              Each lives at most 15 minutes; revoking the key ends them
            </span>
          </div>
          <p>
            Exchanged for access tokens <strong>{formatCount(exchanges.count)}</strong>{" "}
            {exchanges.count === 1 ? "time" : "times"}
            {exchanges.lastAt && (
              <>
                , last <span title={formatDateTime(exchanges.lastAt)}>{ago(exchanges.lastAt)}</span>
              </>
            )}
            .
          </p>
        </section>
      )}

      <section class="card" aria-labelledby="time-title">
        <div class="card-head">
          <h2 id="time-title">Calls over time</h2>
          <span class="muted small">Last 24 hours, per hour</span>
        </div>
        <CallsOverTime hours={usage.byHour} />
      </section>

      <div class="grid-2">
        <section class="card" aria-labelledby="endpoint-title">
          <h2 id="endpoint-title">By endpoint</h2>
          <BarList items={usage.byEndpoint} empty="No calls yet." mono />
        </section>
        <section class="card" aria-labelledby="project-title">
          <h2 id="project-title">By project</h2>
          <BarList
            items={usage.byProject.map((p) => ({ ...p, label: projects.get(p.label) ?? p.label }))}
            empty="No calls with a project yet."
          />
        </section>
      </div>

      <section class="card" aria-labelledby="activity-title">
        <h2 id="activity-title">Activity log</h2>
        <ActivityTable activity={activity} />
      </section>

      {dialog === "edit" && (
        <EditKeyDialog
          apiKey={key}
          onClose={() => setDialog(null)}
          onSaved={() => {
            setDialog(null);
            toast("Key updated");
            void load();
          }}
        />
      )}
      {dialog === "rotate" && <RotateDialog apiKey={key} onClose={() => setDialog(null)} />}
      {dialog === "revoke" && (
        <RevokeDialog
          apiKey={key}
          onClose={() => setDialog(null)}
          onRevoked={() => {
            setDialog(null);
            toast(`“${key.name}” was revoked`);
            void load();
          }}
        />
      )}
    </>
  );
}

/** The server's usage tallies (already ordered: counts descending, hours ascending) as chart data. */
function chartsOf(usage: KeyUsage): {
  byEndpoint: Count[];
  byProject: Count[];
  byHour: { hour: number; count: number }[];
} {
  return {
    byEndpoint: usage.by_endpoint.map((e) => ({ label: e.endpoint, count: e.count })),
    byProject: usage.by_project.map((p) => ({
      label: p.project_id ?? "No project",
      count: p.count,
    })),
    byHour: usage.by_hour.map((h) => ({ hour: Date.parse(h.hour), count: h.count })),
  };
}

/** `POST /v1/keys/exchange` as counted in the key's usage, and its latest use in the activity. */
const EXCHANGE_ENDPOINT = "POST /v1/keys/exchange";

function exchangesOf(
  usage: KeyUsage,
  activity: Activity[] | null,
): { count: number; lastAt: string | null } | null {
  const count = usage.by_endpoint.find((e) => e.endpoint === EXCHANGE_ENDPOINT)?.count ?? 0;
  if (count === 0) return null;
  const last = activity?.find((a) => a.endpoint === EXCHANGE_ENDPOINT && a.outcome === "ok");
  return { count, lastAt: last?.at ?? null };
}

function Stat({
  label,
  value,
  title,
}: {
  label: string;
  value: string;
  title?: string | undefined;
}) {
  return (
    <div class="stat">
      <span class="stat-label">{label}</span>
      <span class="stat-value" title={title}>
        {value}
      </span>
    </div>
  );
}

function ActivityTable({ activity }: { activity: Activity[] | null }) {
  if (!activity) return <Spinner label="Loading activity" />;
  if (activity.length === 0)
    return (
      <EmptyState title="No calls yet">
        {<p class="muted">Calls made with this key will show up here.</p>}
      </EmptyState>
    );
  return (
    <div class="table-wrap">
      <table class="table table-stack">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Endpoint</th>
            <th scope="col" class="hide-narrow">
              IP address
            </th>
            <th scope="col">Outcome</th>
          </tr>
        </thead>
        <tbody>
          {activity.map((a, i) => (
            <tr key={`${a.at}-${i}`}>
              <td class="nowrap">{formatDateTime(a.at)}</td>
              <td class="mono stack-full">
                {a.endpoint}
                {/* Cached hits a verifier reported together: one row, their number. */}
                {a.count > 1 ? <span class="muted"> ×{a.count}</span> : null}
              </td>
              <td class="mono hide-narrow">{a.ip ?? "—"}</td>
              <td>
                <Badge
                  tone={
                    /^(ok|success|allowed|valid|2\d\d)$/i.test(a.outcome) ? "success" : "danger"
                  }
                >
                  {a.outcome || "—"}
                </Badge>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
