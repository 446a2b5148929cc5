import { useId } from "preact/hooks";
import { FieldError } from "./components/field.js";

/** Orders scopes by resource, with `admin:*` (staff only) last. */
export function sortScopes(scopes: readonly string[]): string[] {
  return [...scopes].sort((a, b) => {
    const staffA = a.startsWith("admin:") ? 1 : 0;
    const staffB = b.startsWith("admin:") ? 1 : 0;
    return staffA - staffB || a.localeCompare(b);
  });
}

interface ScopePickerProps {
  legend: string;
  hint: string;
  options: readonly string[];
  selected: ReadonlySet<string>;
  onChange: (next: Set<string>) => void;
  error?: string | null;
}

/** Scopes as checkboxes in a fieldset, with the API's complaint about them beneath. */
export function ScopePicker({
  legend,
  hint,
  options,
  selected,
  onChange,
  error,
}: ScopePickerProps) {
  const id = useId();
  const toggle = (scope: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(scope);
    else next.delete(scope);
    onChange(next);
  };
  return (
    <fieldset
      class={error ? "field scopes has-error" : "field scopes"}
      aria-describedby={`${id}-hint${error ? ` ${id}-error` : ""}`}
    >
      <legend>{legend}</legend>
      <p id={`${id}-hint`} class="hint">
        {hint}
      </p>
      <div class="scope-grid">
        {options.map((scope) => (
          <label key={scope} class="check">
            <input
              type="checkbox"
              name="scopes"
              value={scope}
              checked={selected.has(scope)}
              onChange={(e) => toggle(scope, e.currentTarget.checked)}
            />
            <span class="mono">{scope}</span>
          </label>
        ))}
      </div>
      <FieldError id={`${id}-error`} message={error} />
    </fieldset>
  );
}

export function ScopeList({ scopes }: { scopes: readonly string[] }) {
  if (scopes.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="chips" aria-label="Scopes">
      {sortScopes(scopes).map((s) => (
        <li key={s} class="chip mono">
          {s === "*" ? "* (everything)" : s}
        </li>
      ))}
    </ul>
  );
}
