import type { ComponentChildren, JSX } from "preact";
import { useId } from "preact/hooks";
import { WarningIcon } from "./icons.js";

/** What every labelled field takes besides its control's own attributes. */
interface FieldFrame {
  label: string;
  hint?: ComponentChildren;
  error?: string | null;
}

/** The attributes that tie a control to its label, hint and error. */
interface ControlAttributes {
  id: string;
  "aria-invalid": "true" | undefined;
  "aria-describedby": string | undefined;
}

/**
 * A label, the control `render` makes with the attributes that tie it to the label, the hint
 * and, when the API refused the value, the reason beside it.
 */
function Field({
  label,
  hint,
  error,
  render,
}: FieldFrame & { render: (control: ControlAttributes) => ComponentChildren }) {
  const id = useId();
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <div class={error ? "field has-error" : "field"}>
      <label for={id}>{label}</label>
      {render({
        id,
        "aria-invalid": error ? "true" : undefined,
        "aria-describedby": described || undefined,
      })}
      {hint && (
        <p id={`${id}-hint`} class="hint">
          {hint}
        </p>
      )}
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}

type InputProps = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, "id" | "label"> & FieldFrame;

/** A labelled input with its hint and, when the API refused it, the reason beside it. */
export function TextField({ label, hint, error, ...input }: InputProps) {
  return (
    <Field
      label={label}
      hint={hint}
      error={error}
      render={(control) => <input {...control} {...input} />}
    />
  );
}

type TextAreaProps = Omit<JSX.TextareaHTMLAttributes<HTMLTextAreaElement>, "id" | "label"> &
  FieldFrame;

/** A labelled multi-line input, as TextField. */
export function TextAreaField({ label, hint, error, ...area }: TextAreaProps) {
  return (
    <Field
      label={label}
      hint={hint}
      error={error}
      render={(control) => <textarea {...control} {...area} />}
    />
  );
}

type SelectProps = Omit<JSX.SelectHTMLAttributes<HTMLSelectElement>, "id" | "label"> &
  FieldFrame & { children: ComponentChildren };

export function SelectField({ label, hint, error, children, ...select }: SelectProps) {
  return (
    <Field
      label={label}
      hint={hint}
      error={error}
      render={(control) => (
        <select {...control} {...select}>
          {children}
        </select>
      )}
    />
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
