/**
 * The pages a mailed link opens, and the request for one (SPEC §9): forgot password, reset
 * password (`?token=`), verify email (`?token=`). They work signed in or not.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { asApiError as toApiError, request, type ApiError } from "../api.js";
import { FormError, TextField } from "../components/field.js";
import { NewPasswordFields, useNewPassword } from "../components/new-password.js";
import { Spinner } from "../components/ui.js";
import { Link } from "../router.js";
import { AuthCard } from "./sign-in.js";

const asApiError = (error: unknown) =>
  toApiError(error, "Latchkey cannot be reached. Check your connection.");

function tokenFromQuery(): string {
  return new URLSearchParams(location.search).get("token") ?? "";
}

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await request("POST", "/v1/auth/password/reset", { email });
      setSent(true);
    } catch (caught) {
      setError(asApiError(caught));
    } finally {
      setBusy(false);
    }
  };

  if (sent) {
    return (
      <AuthCard
        title="Check your email"
        subtitle="If an account uses this address, we have sent it a link to choose a new password."
      >
        <p role="status" class="muted">
          The link works once, for 30 minutes. Nothing arrived? Check your spam folder, or ask again
          in a few minutes.
        </p>
        <p class="auth-switch">
          <Link href="/sign-in">Back to sign in</Link>
        </p>
      </AuthCard>
    );
  }
  const emailError = error?.fieldMessage("email") ?? null;
  return (
    <AuthCard
      title="Forgot your password?"
      subtitle="Enter your account's email and we will send you a link to choose a new one."
    >
      <form onSubmit={submit} noValidate>
        <FormError message={emailError ? null : (error?.message ?? null)} />
        <TextField
          label="Email"
          type="email"
          name="email"
          autoComplete="username"
          required
          autoFocus
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          error={emailError}
        />
        <button type="submit" class="button button-primary button-block" disabled={busy}>
          {busy ? "Sending…" : "Send reset link"}
        </button>
      </form>
      <p class="auth-switch">
        Remembered it? <Link href="/sign-in">Sign in</Link>
      </p>
    </AuthCard>
  );
}

export function ResetPasswordPage({ onDone }: { onDone: () => void }) {
  const [token] = useState(tokenFromQuery);
  const fresh = useNewPassword();
  const [needsCode, setNeedsCode] = useState(false);
  const [useBackup, setUseBackup] = useState(false);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    if (!fresh.confirmed()) return;
    setBusy(true);
    try {
      const second = !needsCode
        ? {}
        : useBackup
          ? { backup_code: code.trim() }
          : { code: code.trim() };
      await request("POST", "/v1/auth/password/reset/confirm", {
        token,
        new_password: fresh.password,
        ...second,
      });
      setDone(true);
      onDone();
    } catch (caught) {
      const failure = asApiError(caught);
      if (failure.code === "mfa_required") setNeedsCode(true);
      else setError(failure);
    } finally {
      setBusy(false);
    }
  };

  if (!token || error?.code === "token_invalid" || error?.code === "token_expired") {
    return (
      <AuthCard
        title="This link does not work"
        subtitle={
          error?.code === "token_expired"
            ? "The reset link has expired: links work for 30 minutes."
            : "The reset link is incomplete, was already used, or a newer one replaced it."
        }
      >
        <p class="auth-switch">
          <Link href="/forgot-password">Ask for a new link</Link>
        </p>
      </AuthCard>
    );
  }
  if (done) {
    return (
      <AuthCard
        title="Password changed"
        subtitle="Your new password is set. Every session was signed out, on every device."
      >
        <p class="auth-switch">
          <Link href="/sign-in">Sign in with your new password</Link>
        </p>
      </AuthCard>
    );
  }
  const passwordError = error?.fieldMessage("new_password") ?? null;
  const codeError =
    error?.fieldMessage("code") ??
    error?.fieldMessage("backup_code") ??
    (error?.code === "invalid_mfa_code" ? error.message : null);
  const formError = passwordError || codeError ? null : (error?.message ?? null);
  return (
    <AuthCard title="Choose a new password" subtitle="Every session will be signed out.">
      <form onSubmit={submit} noValidate>
        <FormError message={formError} />
        <NewPasswordFields state={fresh} error={passwordError} />
        {needsCode && (
          <>
            <p class="muted" role="status">
              Two-factor authentication is on for this account: enter a code as well.
            </p>
            <TextField
              key={useBackup ? "backup" : "totp"}
              label={useBackup ? "Backup code" : "Authentication code"}
              name={useBackup ? "backup_code" : "code"}
              inputMode={useBackup ? undefined : "numeric"}
              autoComplete="one-time-code"
              autoFocus
              value={code}
              onInput={(e) =>
                setCode(
                  useBackup ? e.currentTarget.value : e.currentTarget.value.replace(/\D/g, ""),
                )
              }
              error={codeError}
            />
            <button
              type="button"
              class="link-button"
              onClick={() => {
                setUseBackup(!useBackup);
                setCode("");
              }}
            >
              {useBackup ? "Use your authenticator app instead" : "Use a backup code instead"}
            </button>
          </>
        )}
        <button type="submit" class="button button-primary button-block" disabled={busy}>
          {busy ? "Saving…" : "Set new password"}
        </button>
      </form>
    </AuthCard>
  );
}

export function VerifyEmailPage({ onVerified }: { onVerified: () => void }) {
  const [state, setState] = useState<"working" | "verified" | ApiError>("working");
  const [email, setEmail] = useState("");
  const [previous, setPrevious] = useState<string | null>(null);
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    const token = tokenFromQuery();
    request<{ email: string; previous_email?: string }>("POST", "/v1/auth/email/verify", { token })
      .then((result) => {
        setEmail(result.email);
        setPrevious(result.previous_email ?? null);
        setState("verified");
        onVerified();
      })
      .catch((caught: unknown) => setState(asApiError(caught)));
  }, [onVerified]);

  if (state === "working")
    return (
      <AuthCard title="Verifying your email" subtitle="One moment…">
        <Spinner />
      </AuthCard>
    );
  if (state === "verified")
    return (
      <AuthCard
        title={previous ? "Email address changed" : "Email verified"}
        subtitle={
          previous
            ? `Your account now signs in with ${email} (it was ${previous}).`
            : `${email} is confirmed as your address.`
        }
      >
        <p class="auth-switch">
          <Link href="/keys">Continue to Latchkey</Link>
        </p>
      </AuthCard>
    );
  return (
    <AuthCard
      title="This link does not work"
      subtitle={
        state.code === "token_expired"
          ? "The verification link has expired: links work for 24 hours."
          : "The verification link is incomplete, was already used, or a newer one replaced it."
      }
    >
      <p class="muted">Signed in, you can ask for a new link on the Security page.</p>
      <p class="auth-switch">
        <Link href="/security">Go to Security</Link>
      </p>
    </AuthCard>
  );
}
