import { useState } from "preact/hooks";
import type { ApiError } from "../api.js";
import { SelectField, TextAreaField, TextField } from "../components/field.js";
import type { ApiKey } from "../types.js";

/** Usage credits, refill and named rate limits (issue 20): fields of New key and Edit key. */

type NamedLimit = ApiKey["ratelimits"][number];

const limitLine = (l: NamedLimit) =>
  `${l.name}=${l.limit}/${l.window}${l.cost === 1 ? "" : `:${l.cost}`}`;
const limitsText = (list: readonly NamedLimit[]) => list.map(limitLine).join("\n");
const LINE =
  /^([A-Za-z0-9_.:-]{1,64})=([1-9][0-9]{0,9})\/([1-9][0-9]{0,5}[smhd])(?::([0-9]{1,7}))?$/;

function parseLimits(text: string): { limits: Record<string, unknown>[] } | { error: string } {
  const limits: Record<string, unknown>[] = [];
  for (const line of text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)) {
    const match = LINE.exec(line);
    if (!match) return { error: `"${line}" does not read name=limit/window, such as api=100/1m.` };
    const limit: Record<string, unknown> = {
      name: match[1],
      limit: Number(match[2]),
      window: match[3],
    };
    if (match[4] !== undefined) limit.cost = Number(match[4]);
    limits.push(limit);
  }
  return { limits };
}

/** The credit and limit fields, their state, and what of them goes into a create or PATCH body. */
export function useLimitsForm(key: ApiKey | null) {
  const [credits, setCredits] = useState(
    key?.remaining === null || !key ? "" : String(key.remaining),
  );
  const [interval, setInterval] = useState<string>(key?.refill?.interval ?? "");
  const [amount, setAmount] = useState(key?.refill ? String(key.refill.amount) : "");
  const [limits, setLimits] = useState(key ? limitsText(key.ratelimits) : "");

  /** The body's fields (only what changed, for an edit), or a field problem. */
  const body = (): { values: Record<string, unknown> } | { field: string; message: string } => {
    const values: Record<string, unknown> = {};
    const shownCredits = key?.remaining === null || !key ? "" : String(key.remaining);
    if (credits.trim() !== shownCredits) {
      if (credits.trim() && !/^[0-9]{1,13}$/.test(credits.trim()))
        return { field: "remaining", message: "Credits are a whole number; empty is unlimited." };
      values.remaining = credits.trim() ? Number(credits.trim()) : null;
    }
    const refillWas = key?.refill ? `${key.refill.amount}/${key.refill.interval}` : "";
    const refillNow = interval ? `${amount.trim()}/${interval}` : "";
    if (refillNow !== refillWas) {
      if (interval && !/^[1-9][0-9]{0,12}$/.test(amount.trim()))
        return { field: "refill", message: "Give the number of credits each refill restores." };
      values.refill = interval ? { amount: Number(amount.trim()), interval } : null;
      if (!key && values.refill === null) delete values.refill;
    }
    if (limits.trim() !== (key ? limitsText(key.ratelimits) : "")) {
      const parsed = parseLimits(limits);
      if ("error" in parsed) return { field: "ratelimits", message: parsed.error };
      values.ratelimits = parsed.limits.length > 0 || !key ? parsed.limits : null;
      if (!key && parsed.limits.length === 0) delete values.ratelimits;
    }
    if (!key && values.remaining === null) delete values.remaining;
    return { values };
  };

  const fields = (error: ApiError | null) => (
    <fieldset class="field">
      <legend>Usage limits (optional)</legend>
      <div class="field-row">
        <TextField
          label="Usage credits"
          name="remaining"
          inputMode="numeric"
          placeholder="Unlimited"
          autoComplete="off"
          value={credits}
          onInput={(e) => setCredits(e.currentTarget.value)}
          hint="Verifications (or their cost) the key may spend; then usage_exceeded."
          error={error?.fieldMessage("remaining") ?? null}
        />
        <SelectField
          label="Refill"
          name="refill_interval"
          value={interval}
          onChange={(e) => setInterval(e.currentTarget.value)}
          error={error?.fieldMessage("refill") ?? null}
        >
          <option value="">Never</option>
          <option value="daily">Daily (UTC midnight)</option>
          <option value="monthly">Monthly (the 1st, UTC)</option>
        </SelectField>
        {interval && (
          <TextField
            label="Refill to"
            name="refill_amount"
            inputMode="numeric"
            autoComplete="off"
            value={amount}
            onInput={(e) => setAmount(e.currentTarget.value)}
          />
        )}
      </div>
      <TextAreaField
        label="Rate limits"
        name="ratelimits"
        rows={3}
        spellcheck={false}
        class="mono"
        placeholder="api=100/1m"
        hint="One per line: name=limit/window (s, m, h, d), with :cost for a cost other than 1. Your account's limits apply as well."
        value={limits}
        onInput={(e) => setLimits(e.currentTarget.value)}
        error={error?.fieldMessage("ratelimits") ?? null}
      />
    </fieldset>
  );

  return { body, fields };
}

/** Key details: what the key may still spend, and its named limits. */
export function KeyLimitsCard({ apiKey }: { apiKey: ApiKey }) {
  if (apiKey.remaining === null && apiKey.ratelimits.length === 0) return null;
  return (
    <section class="card" aria-labelledby="limits-title">
      <div class="card-head">
        <h2 id="limits-title">Usage limits</h2>
        <span class="muted small">Spent by your services' verifications</span>
      </div>
      <dl class="key-limits">
        {apiKey.remaining !== null && (
          <>
            <dt>Credits left</dt>
            <dd>
              {apiKey.remaining.toLocaleString()}
              {apiKey.refill &&
                `, refilled to ${apiKey.refill.amount.toLocaleString()} ${apiKey.refill.interval === "daily" ? "every day" : "every month"} (UTC)`}
            </dd>
          </>
        )}
        {apiKey.ratelimits.map((l) => (
          <>
            <dt>{l.name}</dt>
            <dd>
              {l.limit.toLocaleString()} per {l.window}
              {l.cost === 1 ? "" : ` (cost ${l.cost})`}
            </dd>
          </>
        ))}
      </dl>
    </section>
  );
}
