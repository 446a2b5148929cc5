import type { ComponentChildren, JSX } from "preact";
import { useId } from "preact/hooks";
import { WarningIcon } from "./icons.js";

type InputProps = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, "id" | "label"> & {
  label: string;
  hint?: ComponentChildren;
  error?: string | null;
};

/** A labelled input with its hint and, when the API refused it, the reason beside it. */
export function TextField({ label, hint, error, ...input }: InputProps) {
  const id = useId();
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <div class={error ? "field has-error" : "field"}>
      <label for={id}>{label}</label>
      <input
        id={id}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={described || undefined}
        {...input}
      />
      {hint && (
        <p id={`${id}-hint`} class="hint">
          {hint}
        </p>
      )}
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}

type TextAreaProps = Omit<JSX.TextareaHTMLAttributes<HTMLTextAreaElement>, "id" | "label"> & {
  label: string;
  hint?: ComponentChildren;
  error?: string | null;
};

/** A labelled multi-line input, as TextField. */
export function TextAreaField({ label, hint, error, ...area }: TextAreaProps) {
  const id = useId();
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <div class={error ? "field has-error" : "field"}>
      <label for={id}>{label}</label>
      <textarea
        id={id}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={described || undefined}
        {...area}
      />
      {hint && (
        <p id={`${id}-hint`} class="hint">
          {hint}
        </p>
      )}
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}

type SelectProps = Omit<JSX.SelectHTMLAttributes<HTMLSelectElement>, "id" | "label"> & {
  label: string;
  hint?: ComponentChildren;
  error?: string | null;
  children: ComponentChildren;
};

export function SelectField({ label, hint, error, children, ...select }: SelectProps) {
  const id = useId();
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <div class={error ? "field has-error" : "field"}>
      <label for={id}>{label}</label>
      <select
        id={id}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={described || undefined}
        {...select}
      >
        {children}
      </select>
      {hint && (
        <p id={`${id}-hint`} class="hint">
          {hint}
        </p>
      )}
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}

/** API messages start in lower case ("must be 6 digits"); on screen they are sentences. */
export const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

export function FieldError({ id, message }: { id: string; message?: string | null | undefined }) {
  if (!message) return null;
  return (
    <p id={id} class="field-error">
      <WarningIcon />
      <span>{sentence(message)}</span>
    </p>
  );
}

/** A problem with the whole form (wrong password, plan limit): announced at once. */
export function FormError({ message }: { message?: string | null | undefined }) {
  if (!message) return null;
  return (
    <div class="alert alert-error" role="alert">
      <WarningIcon />
      <span>{sentence(message)}</span>
    </div>
  );
}
