import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef } from "preact/hooks";
import { CloseIcon } from "./icons.js";

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

interface ModalProps {
  title: string;
  description?: string;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
}

/**
 * A modal dialog: the page behind is inert, Tab cycles inside, Escape closes, and focus
 * goes back to whatever opened it.
 */
export function Modal({ title, description, onClose, children, wide }: ModalProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const close = useRef(onClose);
  close.current = onClose;

  useEffect(() => {
    const dialog = ref.current!;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog.showModal();
    const inBody = FOCUSABLE.split(", ")
      .map((s) => `.modal-body ${s}`)
      .join(", ");
    const first =
      dialog.querySelector<HTMLElement>("[autofocus]") ?? dialog.querySelector<HTMLElement>(inBody);
    first?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "Tab") return;
      const items = [...dialog.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
        (el) => el.offsetParent !== null,
      );
      if (items.length === 0) return;
      const [head, tail] = [items[0]!, items[items.length - 1]!];
      if (event.shiftKey && document.activeElement === head) {
        event.preventDefault();
        tail.focus();
      } else if (!event.shiftKey && document.activeElement === tail) {
        event.preventDefault();
        head.focus();
      }
    };
    dialog.addEventListener("keydown", onKey);
    return () => {
      dialog.removeEventListener("keydown", onKey);
      if (dialog.open) dialog.close();
      // The opener may have gone (a revoked key's card re-renders): fall back to the heading.
      const target = opener?.isConnected ? opener : document.querySelector<HTMLElement>("h1");
      target?.focus();
    };
  }, []);

  return (
    <dialog
      ref={ref}
      class={wide ? "modal modal-wide" : "modal"}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
      onCancel={(event) => {
        event.preventDefault();
        close.current();
      }}
    >
      <header class="modal-header">
        <h2 id={titleId}>{title}</h2>
        <button
          type="button"
          class="icon-button"
          aria-label="Close"
          onClick={() => close.current()}
        >
          <CloseIcon />
        </button>
      </header>
      <div class="modal-body">
        {description && (
          <p id={descriptionId} class="muted">
            {description}
          </p>
        )}
        {children}
      </div>
    </dialog>
  );
}
