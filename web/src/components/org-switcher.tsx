/** The topbar's organization switcher: Personal, each organization, and creating one. */
import { useState } from "preact/hooks";
import { api } from "../api.js";
import { currentOrg, setCurrentOrg } from "../org.js";
import { navigate } from "../router.js";
import type { Org, Whoami } from "../types.js";
import { FormError, TextField } from "./field.js";
import { Modal } from "./modal.js";
import { toast } from "./ui.js";
import { useSubmit } from "./use-submit.js";

const NEW = "__new__";

export function OrgSwitcher({ me, onChanged }: { me: Whoami; onChanged: () => Promise<void> }) {
  const [creating, setCreating] = useState(false);
  const org = currentOrg();
  const choose = (value: string) => {
    if (value === NEW) return setCreating(true);
    setCurrentOrg(value === "" ? null : value);
    navigate("/keys");
  };
  return (
    <>
      <label class="org-switcher">
        <span class="visually-hidden">Acting in</span>
        <select
          aria-label="Organization"
          value={org ?? ""}
          onChange={(event) => choose((event.target as HTMLSelectElement).value)}
        >
          <option value="">Personal</option>
          {me.orgs.map((o) => (
            <option key={o.id} value={o.id}>
              {o.name} ({o.role})
            </option>
          ))}
          <option value={NEW}>New organization…</option>
        </select>
      </label>
      {creating && (
        <NewOrgDialog
          onClose={() => setCreating(false)}
          onCreated={async (created) => {
            setCreating(false);
            await onChanged();
            setCurrentOrg(created.id);
            toast(`Organization ${created.name} created`);
            navigate("/members");
          }}
        />
      )}
    </>
  );
}

function NewOrgDialog({
  onClose,
  onCreated,
}: {
  onClose: () => void;
  onCreated: (org: Org) => Promise<void>;
}) {
  const [name, setName] = useState("");
  const submit = useSubmit(() => api.post<Org>("/v1/orgs", { name }), onCreated);
  return (
    <Modal
      title="New organization"
      description="A team that owns keys together; you become its owner and can invite others."
      onClose={onClose}
    >
      <form onSubmit={(event) => void submit.run(event)}>
        <FormError message={submit.error?.message} />
        <TextField
          label="Name"
          value={name}
          required
          maxLength={100}
          autoFocus
          onInput={(event) => setName((event.target as HTMLInputElement).value)}
        />
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={submit.busy}>
            {submit.busy ? "Creating…" : "Create organization"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
