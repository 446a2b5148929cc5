import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { asApiError as toApiError, request, type ApiError } from "../api.js";
import { FormError, TextField } from "../components/field.js";
import { Logo } from "../components/icons.js";
import { PASSWORD_HINT } from "../components/new-password.js";
import { toast } from "../components/ui.js";
import { useSubmit } from "../components/use-submit.js";
import { passkeysSupported, signInWithPasskey } from "../passkeys.js";
import { Link } from "../router.js";

interface Props {
  onSignedIn: () => Promise<void>;
}

export function AuthCard({
  title,
  subtitle,
  children,
}: {
  title: string;
  subtitle: string;
  children: ComponentChildren;
}) {
  useEffect(() => {
    document.title = `${title} · Latchkey`;
  }, [title]);
  return (
    <main class="auth">
      <div class="auth-brand">
        <Logo />
        <span>Latchkey</span>
      </div>
      <section class="auth-card" aria-labelledby="auth-title">
        <h1 id="auth-title">{title}</h1>
        <p class="muted">{subtitle}</p>
        {children}
      </section>
    </main>
  );
}

const UNREACHABLE = "Latchkey cannot be reached. Check your connection.";
/** The longest back-off the sign-in form waits out by itself. */
const MAX_WAIT_SECONDS = 120;
const asApiError = (error: unknown) => toApiError(error, UNREACHABLE);

/** Field-level messages for the sign-in forms; the rest goes to the form's alert. */
function problems(error: ApiError | null) {
  if (!error) return { email: null, password: null, code: null, form: null };
  const email = error.fieldMessage("email");
  const password = error.fieldMessage("password");
  const code =
    error.fieldMessage("code") ??
    error.fieldMessage("backup_code") ??
    (error.code === "invalid_mfa_code" ? error.message : null);
  const form = email || password || code ? null : error.message;
  return { email, password, code, form };
}

export function SignInPage({ onSignedIn }: Props) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [mfa, setMfa] = useState<{ token: string; passkey: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [waiting, setWaiting] = useState<number | null>(null);

  /**
   * Inside the account's back-off the server answers 429 `rate_limited` with a wait ticket:
   * wait `retry_after` and try once more with it (SECURITY.md, "Sign-in throttling").
   */
  const signIn = async () => {
    try {
      await request("POST", "/v1/portal/login", { email, password });
    } catch (caught) {
      const wait = asApiError(caught);
      const seconds = wait.retryAfter ?? Infinity;
      if (wait.code !== "rate_limited" || !wait.waitTicket || seconds > MAX_WAIT_SECONDS)
        throw caught;
      setWaiting(seconds);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      setWaiting(null);
      await request("POST", "/v1/portal/login", { email, password, wait_ticket: wait.waitTicket });
    }
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn();
      await onSignedIn();
    } catch (caught) {
      const failure = asApiError(caught);
      if (failure.code === "mfa_required" && failure.mfaToken !== undefined) {
        const methods = failure.body.methods;
        setMfa({
          token: failure.mfaToken,
          passkey: Array.isArray(methods) && methods.includes("passkey"),
        });
      } else {
        setError(failure);
      }
    } finally {
      setWaiting(null);
      setBusy(false);
    }
  };

  const passkey = useSubmit(() => signInWithPasskey(), onSignedIn, UNREACHABLE);

  if (mfa) {
    return (
      <MfaStep
        mfaToken={mfa.token}
        passkey={mfa.passkey}
        onBack={() => {
          setMfa(null);
          setPassword("");
        }}
        onSignedIn={onSignedIn}
      />
    );
  }

  const p = problems(error ?? passkey.error);
  return (
    <AuthCard
      title="Sign in"
      subtitle="Welcome back. Sign in to manage your API keys and security."
    >
      <form onSubmit={submit} noValidate>
        <FormError message={p.form} />
        {waiting !== null && (
          <p class="muted" role="status">
            Too many failed sign-ins for this account. Trying again in {waiting} s…
          </p>
        )}
        <TextField
          label="Email"
          type="email"
          name="email"
          autoComplete="username"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          error={p.email}
        />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          error={p.password}
        />
        <button type="submit" class="button button-primary button-block" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      {passkeysSupported() && (
        <button
          type="button"
          class="button button-secondary button-block auth-alternative"
          onClick={() => void passkey.run()}
          disabled={busy || passkey.busy}
        >
          Sign in with a passkey
        </button>
      )}
      <p class="auth-switch">
        <Link href="/forgot-password">Forgot your password?</Link>
      </p>
      <p class="auth-switch">
        New to Latchkey? <Link href="/sign-up">Create an account</Link>
      </p>
    </AuthCard>
  );
}

function MfaStep({
  mfaToken,
  passkey,
  onBack,
  onSignedIn,
}: { mfaToken: string; passkey: boolean; onBack: () => void } & Props) {
  const [useBackup, setUseBackup] = useState(false);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = useBackup
        ? { mfa_token: mfaToken, backup_code: code.trim() }
        : { mfa_token: mfaToken, code: code.trim() };
      await request("POST", "/v1/portal/login/mfa", body);
      await onSignedIn();
    } catch (caught) {
      setError(asApiError(caught));
    } finally {
      setBusy(false);
    }
  };

  const withPasskey = useSubmit(() => signInWithPasskey(mfaToken), onSignedIn, UNREACHABLE);

  const p = problems(error ?? withPasskey.error);
  const expired = error?.code === "token_invalid" || error?.code === "token_expired";
  return (
    <AuthCard
      title="Two-factor authentication"
      subtitle={
        useBackup
          ? "Enter one of the backup codes you saved when you turned on two-factor authentication."
          : "Enter the 6-digit code from your authenticator app."
      }
    >
      <form onSubmit={submit} noValidate>
        <FormError message={expired ? "This sign-in took too long. Start again." : p.form} />
        {useBackup ? (
          <TextField
            key="backup"
            label="Backup code"
            name="backup_code"
            autoComplete="off"
            spellcheck={false}
            autoFocus
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
            error={p.code}
          />
        ) : (
          <TextField
            key="totp"
            label="Authentication code"
            name="code"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9]*"
            maxLength={6}
            autoFocus
            class="code-input"
            value={code}
            onInput={(e) => setCode(e.currentTarget.value.replace(/\D/g, ""))}
            error={p.code}
          />
        )}
        <button type="submit" class="button button-primary button-block" disabled={busy}>
          {busy ? "Verifying…" : "Verify"}
        </button>
      </form>
      {passkey && passkeysSupported() && (
        <button
          type="button"
          class="button button-secondary button-block auth-alternative"
          onClick={() => void withPasskey.run()}
          disabled={busy || withPasskey.busy}
        >
          Use a passkey instead
        </button>
      )}
      <div class="auth-links">
        <button
          type="button"
          class="link-button"
          onClick={() => {
            setUseBackup(!useBackup);
            setCode("");
            setError(null);
          }}
        >
          {useBackup ? "Use your authenticator app instead" : "Use a backup code instead"}
        </button>
        <button type="button" class="link-button" onClick={onBack}>
          Back to sign in
        </button>
      </div>
    </AuthCard>
  );
}

export function SignUpPage({ onSignedIn }: Props) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await request("POST", "/v1/portal/signup", { email, password });
      await request("POST", "/v1/portal/login", { email, password });
      toast(`We sent a link to ${email.trim()} to confirm your address`);
      await onSignedIn();
    } catch (caught) {
      setError(asApiError(caught));
    } finally {
      setBusy(false);
    }
  };

  const p = problems(error);
  const emailError = p.email ?? (error?.code === "conflict" ? error.message : null);
  return (
    <AuthCard
      title="Create your account"
      subtitle="Scoped API keys and two-factor sign-in, in a couple of minutes."
    >
      <form onSubmit={submit} noValidate>
        <FormError message={emailError ? null : p.form} />
        <TextField
          label="Email"
          type="email"
          name="email"
          autoComplete="email"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          error={emailError}
        />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="new-password"
          required
          minLength={10}
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          hint={PASSWORD_HINT}
          error={p.password}
        />
        <button type="submit" class="button button-primary button-block" disabled={busy}>
          {busy ? "Creating account…" : "Create account"}
        </button>
      </form>
      <p class="auth-switch">
        Already have an account? <Link href="/sign-in">Sign in</Link>
      </p>
    </AuthCard>
  );
}
