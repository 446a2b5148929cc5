import { useCallback, useEffect, useState } from "preact/hooks";
import { api, asApiError, type ApiError } from "../api.js";
import { FormError, TextField } from "../components/field.js";
import { DownloadIcon, WarningIcon } from "../components/icons.js";
import { Modal } from "../components/modal.js";
import { Badge, CopyButton, Spinner, toast } from "../components/ui.js";
import { formatDate } from "../format.js";
import type { BackupCodes, TwoFactorSetup as Setup, TwoFactorStatus } from "../types.js";

/** The QR code as an <img> data URL: no inline SVG markup from the server enters the DOM. */
function qrSource(svg: string): string {
  const bytes = new TextEncoder().encode(svg);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `data:image/svg+xml;base64,${btoa(binary)}`;
}

const codeError = (error: ApiError | null) =>
  error
    ? (error.fieldMessage("code") ??
      (["invalid_mfa_code", "too_many_attempts"].includes(error.code) ? error.message : null))
    : null;

export function TwoFactorCard() {
  const [status, setStatus] = useState<TwoFactorStatus | null>(null);
  const [setup, setSetup] = useState<Setup | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [dialog, setDialog] = useState<"disable" | "regenerate" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setStatus(await api.get<TwoFactorStatus>("/v1/auth/2fa/status"));
    } catch (caught) {
      setError((caught as Error).message);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      setSetup(await api.post<Setup>("/v1/auth/2fa/setup"));
    } catch (caught) {
      setError((caught as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="twofa-title">
      <div class="card-head">
        <h2 id="twofa-title">Two-factor authentication</h2>
        {status && (status.enabled ? <Badge tone="success">On</Badge> : <Badge>Off</Badge>)}
      </div>
      <FormError message={error} />
      {!status && !error && <Spinner />}
      {codes && (
        <BackupCodes
          codes={codes}
          onDone={() => {
            setCodes(null);
            void load();
          }}
        />
      )}
      {!codes && setup && (
        <SetupPanel
          setup={setup}
          onCancel={() => setSetup(null)}
          onEnabled={(backup) => {
            setSetup(null);
            setCodes(backup);
            void load();
          }}
        />
      )}
      {!codes && !setup && status && !status.enabled && (
        <div class="twofa-off">
          <p>
            Protect your account with a time-based code from an authenticator app (1Password, Google
            Authenticator, Authy…) in addition to your password.
          </p>
          <button type="button" class="button button-primary" onClick={start} disabled={busy}>
            {busy ? "Starting…" : "Enable two-factor authentication"}
          </button>
        </div>
      )}
      {!codes && !setup && status?.enabled && (
        <div class="twofa-on">
          <dl class="key-meta">
            <div>
              <dt>Enabled</dt>
              <dd>{formatDate(status.enabled_at)}</dd>
            </div>
            <div>
              <dt>Backup codes left</dt>
              <dd class={status.backup_codes_remaining <= 3 ? "text-warning" : undefined}>
                {status.backup_codes_remaining} of 10
              </dd>
            </div>
          </dl>
          <div class="button-row">
            <button
              type="button"
              class="button button-secondary"
              onClick={() => setDialog("regenerate")}
            >
              Regenerate backup codes
            </button>
            <button
              type="button"
              class="button button-danger-outline"
              onClick={() => setDialog("disable")}
            >
              Turn off
            </button>
          </div>
        </div>
      )}
      {dialog && (
        <CodeDialog
          kind={dialog}
          onClose={() => setDialog(null)}
          onDone={(backup) => {
            setDialog(null);
            if (backup) setCodes(backup);
            else toast("Two-factor authentication is off");
            void load();
          }}
        />
      )}
    </section>
  );
}

function SetupPanel({
  setup,
  onCancel,
  onEnabled,
}: {
  setup: Setup;
  onCancel: () => void;
  onEnabled: (codes: string[]) => void;
}) {
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const grouped = setup.secret.replace(/(.{4})/g, "$1 ").trim();

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const result = await api.post<BackupCodes>("/v1/auth/2fa/verify", {
        code: code.trim(),
      });
      onEnabled(result.backup_codes);
    } catch (caught) {
      setError(asApiError(caught));
      setBusy(false);
    }
  };

  const fieldError = codeError(error);
  return (
    <div class="setup">
      <ol class="steps">
        <li>
          <h3>Scan the QR code</h3>
          <p class="muted">Open your authenticator app and scan this code.</p>
          <img
            class="qr"
            src={qrSource(setup.qr_svg)}
            alt="QR code to add Latchkey to your authenticator app"
            width={176}
            height={176}
          />
          <p class="muted small">Can't scan it? Enter this setup key instead:</p>
          <div class="secret-inline">
            <code data-testid="totp-secret" data-secret={setup.secret}>
              {grouped}
            </code>
            <CopyButton text={setup.secret} label="Copy key" class="button-small" />
          </div>
        </li>
        <li>
          <h3>Enter the code it shows</h3>
          <form onSubmit={submit} noValidate>
            <FormError message={error && !fieldError ? error.message : null} />
            <TextField
              label="6-digit code"
              name="code"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={6}
              class="code-input"
              value={code}
              onInput={(e) => setCode(e.currentTarget.value.replace(/\D/g, ""))}
              error={fieldError}
            />
            <div class="button-row">
              <button type="submit" class="button button-primary" disabled={busy}>
                {busy ? "Verifying…" : "Verify and turn on"}
              </button>
              <button type="button" class="button button-secondary" onClick={onCancel}>
                Cancel
              </button>
            </div>
          </form>
        </li>
      </ol>
    </div>
  );
}

/** The one time backup codes are shown: download or copy them before leaving. */
function BackupCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const text = `Latchkey backup codes\nEach code works once. Keep them somewhere safe.\n\n${codes.join("\n")}\n`;
  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = "latchkey-backup-codes.txt";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return (
    <div class="backup">
      <div class="alert alert-warning">
        <WarningIcon />
        <span>
          <strong>Save your backup codes now.</strong> They won't be shown again. Each one signs you
          in once if you lose your authenticator.
        </span>
      </div>
      <ol class="backup-codes" data-testid="backup-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ol>
      <div class="button-row">
        <button type="button" class="button button-secondary" onClick={download}>
          <DownloadIcon />
          Download
        </button>
        <CopyButton text={codes.join("\n")} label="Copy all" />
        <button type="button" class="button button-primary" onClick={onDone}>
          I've saved them
        </button>
      </div>
    </div>
  );
}

function CodeDialog({
  kind,
  onClose,
  onDone,
}: {
  kind: "disable" | "regenerate";
  onClose: () => void;
  onDone: (codes: string[] | null) => void;
}) {
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const disable = kind === "disable";

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (disable) {
        await api.post("/v1/auth/2fa/disable", { code: code.trim() });
        onDone(null);
      } else {
        const result = await api.post<BackupCodes>("/v1/auth/2fa/backup-codes", {
          code: code.trim(),
        });
        onDone(result.backup_codes);
      }
    } catch (caught) {
      setError(asApiError(caught));
      setBusy(false);
    }
  };

  const fieldError = codeError(error);
  return (
    <Modal
      title={disable ? "Turn off two-factor authentication" : "Regenerate backup codes"}
      description={
        disable
          ? "Your account will be protected by your password alone. Confirm with a code from your app or a backup code."
          : "Your current backup codes will stop working. Confirm with a code from your authenticator app."
      }
      onClose={onClose}
    >
      <form onSubmit={submit} noValidate>
        <FormError message={error && !fieldError ? error.message : null} />
        <TextField
          label={disable ? "Authentication or backup code" : "Authentication code"}
          name="code"
          autoComplete="one-time-code"
          autoFocus
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
          error={fieldError}
        />
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button
            type="submit"
            class={disable ? "button button-danger" : "button button-primary"}
            disabled={busy}
          >
            {busy ? "Confirming…" : disable ? "Turn off" : "Regenerate"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
