/** The Security page's account cards (SPEC §9): the email address and the password. */
import { useState } from "preact/hooks";
import { api, asApiError, type ApiError } from "../api.js";
import { FormError, TextField } from "../components/field.js";
import { NewPasswordFields, useNewPassword } from "../components/new-password.js";
import { Modal } from "../components/modal.js";
import { Badge, toast } from "../components/ui.js";
import { useSubmit } from "../components/use-submit.js";
import type { Whoami } from "../types.js";

export function EmailCard({ me }: { me: Whoami }) {
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [changing, setChanging] = useState(false);
  const [pending, setPending] = useState<string | null>(null);

  const resend = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.post("/v1/auth/email/verify/resend");
      setSent(true);
      toast(`Verification link sent to ${me.email}`);
    } catch (caught) {
      setError(asApiError(caught).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="email-title">
      <div class="card-head">
        <h2 id="email-title">Email address</h2>
        {me.email_verified ? (
          <Badge tone="success">Verified</Badge>
        ) : (
          <Badge tone="warning">Not verified</Badge>
        )}
      </div>
      <p>
        <span class="mono">{me.email}</span>
      </p>
      {!me.email_verified && (
        <>
          <p class="muted">
            Open the link we mailed you when you signed up to confirm this address. Password resets
            and security notices go here.
          </p>
          <FormError message={error} />
          {sent ? (
            <p role="status" class="muted">
              A new link is on its way. It works once, for 24 hours.
            </p>
          ) : (
            <button
              type="button"
              class="button button-secondary"
              disabled={busy}
              onClick={() => void resend()}
            >
              {busy ? "Sending…" : "Send a new verification link"}
            </button>
          )}
        </>
      )}
      {pending && (
        <p role="status" class="muted">
          We mailed a link to <span class="mono">{pending}</span>. Your account moves to that
          address once you open it (within 24 hours); until then you sign in with {me.email}.
        </p>
      )}
      <button type="button" class="button button-secondary" onClick={() => setChanging(true)}>
        Change email address
      </button>
      {changing && (
        <ChangeEmailDialog
          current={me.email}
          onClose={() => setChanging(false)}
          onSent={(address) => {
            setChanging(false);
            setPending(address);
            toast(`Confirmation link sent to ${address}`);
          }}
        />
      )}
    </section>
  );
}

function ChangeEmailDialog({
  current,
  onClose,
  onSent,
}: {
  current: string;
  onClose: () => void;
  onSent: (address: string) => void;
}) {
  const [email, setEmail] = useState("");
  const { busy, error, run } = useSubmit(
    () => api.post<{ email: string }>("/v1/auth/email", { email }),
    (result) => onSent(result.email),
  );

  const fieldError =
    error?.fieldMessage("email") ?? (error?.code === "conflict" ? error.message : null);
  return (
    <Modal
      title="Change email address"
      description={`We will mail a link to the new address; your account moves there once you open it. ${current} gets a notice.`}
      onClose={onClose}
    >
      <form onSubmit={run} noValidate>
        <FormError message={error && !fieldError ? error.message : null} />
        <TextField
          label="New email address"
          name="new-email"
          type="email"
          autoComplete="email"
          autoFocus
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          error={fieldError}
        />
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? "Sending…" : "Send confirmation link"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function PasswordCard({ onChanged }: { onChanged: () => void }) {
  const [current, setCurrent] = useState("");
  const fresh = useNewPassword();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    if (!fresh.confirmed()) return;
    setBusy(true);
    try {
      const result = await api.post<{ sessions_ended: number }>("/v1/auth/password", {
        current_password: current,
        new_password: fresh.password,
      });
      setCurrent("");
      fresh.clear();
      const others = result.sessions_ended;
      toast(
        others > 0
          ? `Password changed; ${others} other session${others === 1 ? "" : "s"} signed out`
          : "Password changed",
      );
      onChanged();
    } catch (caught) {
      setError(asApiError(caught));
    } finally {
      setBusy(false);
    }
  };

  const currentError =
    error?.fieldMessage("current_password") ??
    (error?.code === "invalid_credentials" ? "the current password is not right" : null);
  const nextError = error?.fieldMessage("new_password") ?? null;
  const formError = currentError || nextError ? null : (error?.message ?? null);
  return (
    <section class="card" aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      <p class="muted">Changing it signs out every other session; this one stays.</p>
      <form onSubmit={submit} noValidate class="password-form">
        <FormError message={formError} />
        <TextField
          label="Current password"
          type="password"
          name="current_password"
          autoComplete="current-password"
          required
          value={current}
          onInput={(e) => setCurrent(e.currentTarget.value)}
          error={currentError}
        />
        <NewPasswordFields state={fresh} error={nextError} />
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? "Changing…" : "Change password"}
        </button>
      </form>
    </section>
  );
}
