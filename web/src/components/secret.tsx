import type { ComponentChildren } from "preact";
import { CopyButton } from "./ui.js";
import { WarningIcon } from "./icons.js";

/**
 * The one time a secret is shown: copy it now. By default an API key's (stored only as a
 * hash); `warning`, `hint`, `copyLabel` and `testId` say it for another secret.
 */
export function SecretReveal({
  secret,
  onDone,
  warning,
  hint,
  copyLabel = "Copy key",
  testId = "new-key-secret",
}: {
  secret: string;
  onDone: () => void;
  warning?: ComponentChildren;
  hint?: ComponentChildren;
  copyLabel?: string;
  testId?: string;
}) {
  return (
    <div class="secret">
      <div class="alert alert-warning">
        <WarningIcon />
        <span>
          {warning ?? (
            <>
              <strong>Copy this key now.</strong> For your security it won't be shown again —
              Latchkey keeps only a hash of it.
            </>
          )}
        </span>
      </div>
      <div class="secret-box">
        <code class="secret-value" data-testid={testId}>
          {secret}
        </code>
        <CopyButton text={secret} label={copyLabel} />
      </div>
      <p class="hint">
        {hint ?? (
          <>
            Use it as a bearer token: <code>Authorization: Bearer {secret.slice(0, 12)}…</code>
          </>
        )}
      </p>
      <div class="modal-actions">
        <button type="button" class="button button-primary" onClick={onDone}>
          I've copied it
        </button>
      </div>
    </div>
  );
}
