import { useCallback, useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { FormError } from "../components/field.js";
import { Badge, PageHeader, Spinner, toast } from "../components/ui.js";
import { ago, describeAgent, formatDateTime } from "../format.js";
import type { AuditEntry, AuditList, Session, SessionList, Whoami } from "../types.js";
import { EmailCard, PasswordCard } from "./account-cards.js";
import { LeakPolicyCard } from "./leak-policy.js";
import { PasskeysCard } from "./passkeys.js";
import { TwoFactorCard } from "./two-factor.js";

export function SecurityPage({ me, onSignOut }: { me: Whoami; onSignOut: () => Promise<void> }) {
  // A password change ends other sessions and writes an audit event: both cards reload.
  const [generation, setGeneration] = useState(0);
  return (
    <>
      <PageHeader
        title="Security"
        description="Your email and password, two-factor sign-in and passkeys, what happens to a leaked key, where you are signed in, and what happened on your account."
      />
      <EmailCard me={me} />
      <PasswordCard onChanged={() => setGeneration((g) => g + 1)} />
      <TwoFactorCard />
      <PasskeysCard />
      <LeakPolicyCard />
      <SessionsCard key={`s${generation}`} onSignOut={onSignOut} />
      <AuditCard key={`a${generation}`} />
    </>
  );
}

function SessionsCard({ onSignOut }: { onSignOut: () => Promise<void> }) {
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setSessions((await api.get<SessionList>("/v1/auth/sessions")).sessions);
    } catch (caught) {
      setError((caught as Error).message);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const end = async (session: Session) => {
    if (session.current) return onSignOut();
    try {
      await api.delete(`/v1/auth/sessions/${encodeURIComponent(session.id)}`);
      toast(`Signed out ${describeAgent(session.user_agent)}`);
      await load();
    } catch (caught) {
      setError((caught as Error).message);
    }
  };

  return (
    <section class="card" aria-labelledby="sessions-title">
      <div class="card-head">
        <h2 id="sessions-title">Active sessions</h2>
        {sessions && <span class="muted small">{sessions.length} signed in</span>}
      </div>
      <FormError message={error} />
      {!sessions && !error && <Spinner />}
      {sessions && (
        <ul class="session-list">
          {sessions.map((s) => (
            <li key={s.id} class="session">
              <div class="session-main">
                <span class="session-device">
                  {describeAgent(s.user_agent)}
                  {s.current && <Badge tone="info">This device</Badge>}
                  {s.amr.includes("otp") && <Badge tone="success">2FA</Badge>}
                  {s.amr.includes("hwk") && <Badge tone="success">Passkey</Badge>}
                </span>
                <span class="muted small">
                  {s.ip ?? "unknown IP"} · signed in {formatDateTime(s.created_at)} · active{" "}
                  {ago(s.last_used_at)}
                </span>
              </div>
              <button
                type="button"
                class="button button-secondary button-small"
                onClick={() => void end(s)}
                aria-label={
                  s.current
                    ? "Sign out of this device"
                    : `Sign out ${describeAgent(s.user_agent)} (${s.ip ?? "unknown IP"})`
                }
              >
                Sign out
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

const WORDS: Record<string, string> = {
  api: "API",
  "2fa": "2FA",
  mfa: "MFA",
  totp: "TOTP",
  ip: "IP",
};

/** `api_key_created` → "API key created". */
export function eventLabel(event: string): string {
  const words = event.split(/[_.:]/).map((w) => WORDS[w] ?? w);
  const text = words.join(" ");
  return text[0]!.toUpperCase() + text.slice(1);
}

function detailText(details: Record<string, unknown>): string {
  return Object.entries(details)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== "object")
    .map(([k, v]) => {
      const value =
        k.endsWith("_at") && typeof v === "number"
          ? formatDateTime(new Date(v).toISOString())
          : String(v);
      return `${k.replaceAll("_", " ")}: ${value}`;
    })
    .join(" · ");
}

function AuditCard() {
  const [events, setEvents] = useState<AuditEntry[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async (before: number | null) => {
    try {
      const query = `limit=25&all=false${before ? `&before=${before}` : ""}`;
      const page = await api.get<AuditList>(`/v1/audit-log?${query}`);
      setEvents((current) => (before && current ? [...current, ...page.events] : page.events));
      setNext(page.next_before);
    } catch (caught) {
      setError((caught as Error).message);
    }
  }, []);
  useEffect(() => {
    void load(null);
  }, [load]);

  return (
    <section class="card" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <FormError message={error} />
      {!events && !error && <Spinner />}
      {events && (
        <div class="table-wrap">
          <table class="table table-stack">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col" class="hide-narrow">
                  IP address
                </th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id}>
                  <td class="nowrap">{formatDateTime(e.at)}</td>
                  <td>
                    <Badge tone={/fail|reuse|revoke|disable/.test(e.event) ? "danger" : "neutral"}>
                      {eventLabel(e.event)}
                    </Badge>
                  </td>
                  <td class="mono hide-narrow">{e.ip ?? "—"}</td>
                  <td
                    class={
                      detailText(e.details)
                        ? "muted small stack-full"
                        : "muted small stack-full is-empty"
                    }
                  >
                    {detailText(e.details) || "—"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next && (
        <button type="button" class="button button-secondary" onClick={() => void load(next)}>
          Load older events
        </button>
      )}
    </section>
  );
}
