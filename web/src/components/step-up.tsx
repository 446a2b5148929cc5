import { useEffect, useState } from "preact/hooks";
import { api, asApiError, type ApiError } from "../api.js";
import { passkeysSupported, reauthenticateWithPasskey } from "../passkeys.js";
import { useSubmit } from "./use-submit.js";
import { FormError, TextField } from "./field.js";
import { Modal } from "./modal.js";

/** Six digits are a code from the app; anything else is taken as a backup code. */
function secondFactor(answer: string): { code?: string; backup_code?: string } {
  const text = answer.trim();
  if (!text) return {};
  const digits = text.replace(/\s+/g, "");
  return /^[0-9]{6}$/.test(digits) ? { code: digits } : { backup_code: text };
}

/**
 * Step-up (SPEC §9): a sensitive action needs a recent sign-in. The person confirms with
 * the password, plus a code when two-factor is on; the fresh access token arrives as the
 * session cookie, and the action is retried by the caller.
 */
export function StepUpDialog({ onDone }: { onDone: (confirmed: boolean) => void }) {
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  // A passkey (with user verification) stands in for password and code.
  const [hasPasskey, setHasPasskey] = useState(false);
  useEffect(() => {
    if (!passkeysSupported()) return;
    api.get<{ passkeys: unknown[] }>("/v1/auth/passkeys").then(
      (list) => setHasPasskey(list.passkeys.length > 0),
      () => setHasPasskey(false),
    );
  }, []);

  const passkey = useSubmit(reauthenticateWithPasskey, () => onDone(true));

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post("/v1/portal/reauthenticate", { password, ...secondFactor(code) });
      onDone(true);
    } catch (caught) {
      setError(asApiError(caught));
      setBusy(false);
    }
  };

  const needsCode = error?.code === "mfa_required" || error?.code === "invalid_mfa_code";
  const codeError =
    error?.fieldMessage("code") ??
    error?.fieldMessage("backup_code") ??
    (needsCode
      ? error.code === "mfa_required"
        ? "two-factor authentication is on: enter a code from your app"
        : error.message
      : null);
  const passwordError =
    error?.fieldMessage("password") ??
    (error?.code === "invalid_credentials" ? "that is not your password" : null);
  const formError = error && !codeError && !passwordError ? error.message : null;

  return (
    <Modal
      title="Confirm it is you"
      description="This action needs a recent sign-in. Enter your password, and a code from your authenticator app if two-factor authentication is on. If the action asks for a code of its own, it then needs a newer one."
      onClose={() => onDone(false)}
    >
      <form onSubmit={submit} noValidate data-testid="step-up">
        <FormError message={formError ?? passkey.error?.message} />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          autoFocus
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          error={passwordError}
        />
        <TextField
          label="Authentication or backup code"
          name="step-up-code"
          autoComplete="one-time-code"
          hint="Only if two-factor authentication is on."
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
          error={codeError}
        />
        {hasPasskey && (
          <button
            type="button"
            class="button button-secondary button-block"
            onClick={() => void passkey.run()}
            disabled={busy || passkey.busy}
          >
            Use a passkey instead
          </button>
        )}
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={() => onDone(false)}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? "Confirming…" : "Confirm"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
