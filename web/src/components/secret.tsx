import { CopyButton } from "./ui.js";
import { WarningIcon } from "./icons.js";

/** The one time a key's secret is shown: copy it now, it is stored only as a hash. */
export function SecretReveal({ secret, onDone }: { secret: string; onDone: () => void }) {
  return (
    <div class="secret">
      <div class="alert alert-warning">
        <WarningIcon />
        <span>
          <strong>Copy this key now.</strong> For your security it won't be shown again — Latchkey
          keeps only a hash of it.
        </span>
      </div>
      <div class="secret-box">
        <code class="secret-value" data-testid="new-key-secret">
          {secret}
        </code>
        <CopyButton text={secret} label="Copy key" />
      </div>
      <p class="hint">
        Use it as a bearer token: <code>Authorization: Bearer {secret.slice(0, 12)}…</code>
      </p>
      <div class="modal-actions">
        <button type="button" class="button button-primary" onClick={onDone}>
          I've copied it
        </button>
      </div>
    </div>
  );
}
