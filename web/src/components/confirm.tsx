import type { ComponentChildren } from "preact";
import { FormError } from "./field.js";
import { Modal } from "./modal.js";
import { useSubmit } from "./use-submit.js";

/**
 * "Are you sure?" for one call: the explanation, Cancel (focused) and the action's button,
 * busy while the call runs and the API's error above it when it fails.
 */
export function ConfirmDialog<T>({
  title,
  children,
  action,
  busy,
  tone = "danger",
  run,
  onDone,
  onClose,
}: {
  title: string;
  children: ComponentChildren;
  /** The button's label, and the one it shows while the call runs. */
  action: string;
  busy: string;
  tone?: "danger" | "primary";
  run: () => Promise<T>;
  onDone: (result: T) => void;
  onClose: () => void;
}) {
  const submit = useSubmit(run, onDone);
  return (
    <Modal title={title} onClose={onClose}>
      <FormError message={submit.error?.message} />
      {children}
      <div class="modal-actions">
        <button type="button" class="button button-secondary" onClick={onClose} autoFocus>
          Cancel
        </button>
        <button
          type="button"
          class={`button button-${tone}`}
          onClick={() => void submit.run()}
          disabled={submit.busy}
        >
          {submit.busy ? busy : action}
        </button>
      </div>
    </Modal>
  );
}
