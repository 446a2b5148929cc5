import { useCallback, useEffect, useState } from "preact/hooks";
import { api, asApiError } from "../api.js";
import { FormError, TextField } from "../components/field.js";
import { Modal } from "../components/modal.js";
import { Badge, Spinner, toast } from "../components/ui.js";
import { useSubmit } from "../components/use-submit.js";
import { ago, formatDate } from "../format.js";
import { addPasskey, passkeysSupported } from "../passkeys.js";
import type { Passkey } from "../types.js";

/**
 * Passkeys (SPEC §9): sign in without a password, or use one in place of the authenticator
 * code. Adding and removing one asks for a recent sign-in (the step-up dialog, by itself).
 */
export function PasskeysCard() {
  const [passkeys, setPasskeys] = useState<Passkey[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [renaming, setRenaming] = useState<Passkey | null>(null);
  const [removing, setRemoving] = useState<Passkey | null>(null);
  const supported = passkeysSupported();

  const load = useCallback(async () => {
    try {
      setPasskeys((await api.get<{ passkeys: Passkey[] }>("/v1/auth/passkeys")).passkeys);
    } catch (caught) {
      setError(asApiError(caught).message);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const add = useSubmit(addPasskey, async (added) => {
    toast(`Passkey added: ${added.name}`);
    await load();
    setRenaming(added);
  });

  return (
    <section class="card" aria-labelledby="passkeys-title">
      <div class="card-head">
        <h2 id="passkeys-title">Passkeys</h2>
        {passkeys && passkeys.length > 0 && (
          <span class="muted small">
            {passkeys.length} {passkeys.length === 1 ? "passkey" : "passkeys"}
          </span>
        )}
      </div>
      <p class="muted">
        Sign in with your fingerprint, face, device PIN or a security key instead of a password, or
        use a passkey in place of the code from your authenticator app.
      </p>
      <FormError message={error ?? add.error?.message} />
      {!passkeys && !error && <Spinner />}
      {passkeys && passkeys.length > 0 && (
        <ul class="session-list" aria-label="Your passkeys">
          {passkeys.map((p) => (
            <li key={p.id} class="session">
              <div class="session-main">
                <span class="session-device">
                  {p.name}
                  {p.device_type === "multiDevice" ? (
                    <Badge tone="info">Synced</Badge>
                  ) : (
                    <Badge>This device</Badge>
                  )}
                </span>
                <span class="muted small">
                  added {formatDate(p.created_at)} ·{" "}
                  {p.last_used_at ? `last used ${ago(p.last_used_at)}` : "never used"}
                </span>
              </div>
              <div class="button-row">
                <button
                  type="button"
                  class="button button-secondary button-small"
                  onClick={() => setRenaming(p)}
                  aria-label={`Rename ${p.name}`}
                >
                  Rename
                </button>
                <button
                  type="button"
                  class="button button-danger-outline button-small"
                  onClick={() => setRemoving(p)}
                  aria-label={`Remove ${p.name}`}
                >
                  Remove
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {supported ? (
        <button
          type="button"
          class="button button-primary"
          onClick={() => void add.run()}
          disabled={add.busy}
        >
          {add.busy ? "Waiting for your passkey…" : "Add a passkey"}
        </button>
      ) : (
        <p class="muted small">This browser cannot create passkeys.</p>
      )}
      {renaming && (
        <RenameDialog
          passkey={renaming}
          onClose={() => setRenaming(null)}
          onDone={() => {
            setRenaming(null);
            void load();
          }}
        />
      )}
      {removing && (
        <RemoveDialog
          passkey={removing}
          onClose={() => setRemoving(null)}
          onDone={() => {
            setRemoving(null);
            toast(`Passkey removed: ${removing.name}`);
            void load();
          }}
        />
      )}
    </section>
  );
}

function RenameDialog({
  passkey,
  onClose,
  onDone,
}: {
  passkey: Passkey;
  onClose: () => void;
  onDone: () => void;
}) {
  const [name, setName] = useState(passkey.name);
  const { busy, error, run } = useSubmit(
    () => api.patch(`/v1/auth/passkeys/${encodeURIComponent(passkey.id)}`, { name }),
    onDone,
  );

  const nameError = error?.fieldMessage("name") ?? null;
  return (
    <Modal
      title="Name this passkey"
      description="A name you will recognise, such as the device or password manager it lives in."
      onClose={onClose}
    >
      <form onSubmit={run} noValidate>
        <FormError message={error && !nameError ? error.message : null} />
        <TextField
          label="Passkey name"
          name="passkey-name"
          autoFocus
          maxLength={64}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          error={nameError}
        />
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function RemoveDialog({
  passkey,
  onClose,
  onDone,
}: {
  passkey: Passkey;
  onClose: () => void;
  onDone: () => void;
}) {
  const { busy, error, run } = useSubmit(
    () => api.delete(`/v1/auth/passkeys/${encodeURIComponent(passkey.id)}`),
    onDone,
  );

  return (
    <Modal
      title="Remove passkey"
      description={`“${passkey.name}” will no longer sign you in. Remove it from the device or password manager too.`}
      onClose={onClose}
    >
      <FormError message={error?.message} />
      <div class="modal-actions">
        <button type="button" class="button button-secondary" onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          class="button button-danger"
          onClick={() => void run()}
          disabled={busy}
        >
          {busy ? "Removing…" : "Remove"}
        </button>
      </div>
    </Modal>
  );
}
