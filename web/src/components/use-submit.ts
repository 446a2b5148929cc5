import { useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api.js";

/**
 * A form's or button's one call: busy while it runs, the API error (or a "cannot be reached"
 * one) when it fails, `done` with its result when it succeeds. `run` takes the submit event
 * (and prevents the page load) or nothing (a button).
 */
export function useSubmit<T>(
  action: () => Promise<T>,
  done: (result: T) => void | Promise<void> = () => {},
  unreachable?: string,
) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = async (event?: Event) => {
    event?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await done(await action());
    } catch (caught) {
      setError(asApiError(caught, unreachable));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}
