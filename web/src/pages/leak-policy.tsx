/** The Security page's leak policy (SPEC §11): what a leak report does to the person's keys. */
import { useEffect, useState } from "preact/hooks";
import { api, asApiError } from "../api.js";
import { FormError } from "../components/field.js";
import { Spinner, toast } from "../components/ui.js";
import { useSubmit } from "../components/use-submit.js";
import type { LeakPolicy } from "../types.js";

type Policy = LeakPolicy["policy"];

const CHOICES: { value: Policy; label: string; hint: string }[] = [
  {
    value: "revoke",
    label: "Revoke",
    hint: "A reported key is revoked at once, on every instance. Safest: create a new key to replace it.",
  },
  {
    value: "quarantine",
    label: "Quarantine",
    hint: "A reported key is refused as key_leaked until you release it (if the report was wrong) or revoke it.",
  },
];

export function LeakPolicyCard() {
  const [saved, setSaved] = useState<Policy | null>(null);
  const [choice, setChoice] = useState<Policy>("revoke");
  const [loadError, setLoadError] = useState<string | null>(null);

  useEffect(() => {
    api.get<LeakPolicy>("/v1/keys/leaks/policy").then(
      (body) => {
        setSaved(body.policy);
        setChoice(body.policy);
      },
      (caught: unknown) => setLoadError(asApiError(caught, "could not load the policy").message),
    );
  }, []);

  const save = useSubmit(
    () => api.put<LeakPolicy>("/v1/keys/leaks/policy", { policy: choice }),
    (body) => {
      setSaved(body.policy);
      toast(
        body.policy === "revoke"
          ? "Leaked keys will be revoked"
          : "Leaked keys will be quarantined",
      );
    },
  );

  return (
    <section class="card" aria-labelledby="leak-policy-title">
      <div class="card-head">
        <h2 id="leak-policy-title">Leaked keys</h2>
      </div>
      <p class="muted">
        Anyone who finds one of your keys in public (a scanner, a code host) can report it. You are
        told, and this decides what happens to the key.
      </p>
      <FormError message={loadError ?? save.error?.message} />
      {!saved && !loadError && <Spinner />}
      {saved && (
        <form onSubmit={save.run} noValidate>
          <fieldset class="field">
            <legend>When a key is reported leaked</legend>
            <div class="radio-row">
              {CHOICES.map((c) => (
                <label key={c.value} class="radio-card">
                  <input
                    type="radio"
                    name="leak-policy"
                    value={c.value}
                    checked={choice === c.value}
                    onChange={() => setChoice(c.value)}
                  />
                  <span>
                    <strong>{c.label}</strong>
                    <span class="hint">{c.hint}</span>
                  </span>
                </label>
              ))}
            </div>
          </fieldset>
          <button
            type="submit"
            class="button button-primary"
            disabled={save.busy || choice === saved}
          >
            {save.busy ? "Saving…" : "Save policy"}
          </button>
        </form>
      )}
    </section>
  );
}
