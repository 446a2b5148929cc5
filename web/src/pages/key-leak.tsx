/**
 * A key named by a leak report (SPEC §11): quarantined (refused as key_leaked until its owner
 * releases or revokes it) or revoked. Where it was seen comes from the reporter: it is shown
 * as text, and as a link only when it is an http(s) URL.
 */
import { useState } from "preact/hooks";
import { api } from "../api.js";
import { WarningIcon } from "../components/icons.js";
import { ConfirmDialog } from "../components/confirm.js";
import { Badge } from "../components/ui.js";
import { formatDateTime } from "../format.js";
import type { ApiKey } from "../types.js";

export const isQuarantined = (key: ApiKey) =>
  key.leaked_at !== null && key.status !== "revoked" && !key.enabled;

function webAddress(text: string): string | null {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function LeakSource({ source }: { source: string | null }) {
  if (!source) return null;
  const href = webAddress(source);
  return (
    <>
      {" "}
      (seen at{" "}
      {href ? (
        <a href={href} target="_blank" rel="noopener noreferrer nofollow" class="break">
          {source}
        </a>
      ) : (
        <span class="mono break">{source}</span>
      )}
      )
    </>
  );
}

/** The key list's mark on a leaked key. */
export function LeakBadge({ apiKey }: { apiKey: ApiKey }) {
  if (!apiKey.leaked_at) return null;
  return <Badge tone="danger">{isQuarantined(apiKey) ? "Leaked: quarantined" : "Leaked"}</Badge>;
}

/** The key page's banner on a leaked key, with Release and Revoke while it is quarantined. */
export function LeakBanner({
  apiKey,
  onRevoke,
  onReleased,
}: {
  apiKey: ApiKey;
  onRevoke: () => void;
  onReleased: () => void;
}) {
  const [releasing, setReleasing] = useState(false);
  if (!apiKey.leaked_at) return null;
  const when = formatDateTime(apiKey.leaked_at);
  if (apiKey.status === "revoked") {
    return (
      <div class="alert alert-error leak-banner" role="status" data-testid="leak-banner">
        <WarningIcon />
        <span class="leak-text">
          <strong>Revoked: reported leaked</strong>
          <LeakSource source={apiKey.leak_source} />, {when}.
        </span>
      </div>
    );
  }
  if (!isQuarantined(apiKey)) return null;
  return (
    <>
      <div class="alert alert-error leak-banner" role="status" data-testid="leak-banner">
        <WarningIcon />
        <span class="leak-text">
          <strong>Reported leaked</strong>
          <LeakSource source={apiKey.leak_source} /> — every use is refused as{" "}
          <code class="nowrap">key_leaked</code>. Reported {when}: release it if the report was
          wrong, or revoke it and create a new one.
        </span>
        <div class="button-row">
          <button
            type="button"
            class="button button-secondary button-small"
            onClick={() => setReleasing(true)}
          >
            Release
          </button>
          <button type="button" class="button button-danger button-small" onClick={onRevoke}>
            Revoke
          </button>
        </div>
      </div>
      {releasing && (
        <ReleaseDialog
          apiKey={apiKey}
          onClose={() => setReleasing(false)}
          onReleased={() => {
            setReleasing(false);
            onReleased();
          }}
        />
      )}
    </>
  );
}

function ReleaseDialog({
  apiKey,
  onClose,
  onReleased,
}: {
  apiKey: ApiKey;
  onClose: () => void;
  onReleased: () => void;
}) {
  return (
    <ConfirmDialog
      title={`Release “${apiKey.name}”?`}
      action="Release key"
      busy="Releasing…"
      run={() => api.patch(`/v1/api-keys/${encodeURIComponent(apiKey.id)}`, { enabled: true })}
      onDone={onReleased}
      onClose={onClose}
    >
      <p>
        <code>{apiKey.prefix}…</code> works again at once, everywhere. Release it only if you are
        sure the key was not exposed — anyone who saw it could use it.
      </p>
    </ConfirmDialog>
  );
}
