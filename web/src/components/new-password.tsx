import { useState } from "preact/hooks";
import { TextField } from "./field.js";

/** What the server's password rules say (SPEC §2), shown wherever a password is chosen. */
export const PASSWORD_HINT = "At least 10 characters. Common passwords are refused.";

/** A new password typed twice: both values, and whether the last submit found them different. */
export function useNewPassword() {
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [mismatch, setMismatch] = useState(false);
  return {
    password,
    repeat,
    mismatch,
    setPassword,
    setRepeat,
    /** On submit: true when both match (else the repeat field says so). */
    confirmed(): boolean {
      setMismatch(password !== repeat);
      return password === repeat;
    },
    clear(): void {
      setPassword("");
      setRepeat("");
    },
  };
}

/** The new-password and repeat fields of change and reset; `error`: the API's word on it. */
export function NewPasswordFields({
  state,
  error,
}: {
  state: ReturnType<typeof useNewPassword>;
  error: string | null;
}) {
  return (
    <>
      <TextField
        label="New password"
        type="password"
        name="new_password"
        autoComplete="new-password"
        required
        minLength={10}
        value={state.password}
        onInput={(e) => state.setPassword(e.currentTarget.value)}
        hint={PASSWORD_HINT}
        error={error}
      />
      <TextField
        label="Repeat the new password"
        type="password"
        name="repeat_password"
        autoComplete="new-password"
        required
        value={state.repeat}
        onInput={(e) => state.setRepeat(e.currentTarget.value)}
        error={state.mismatch ? "the two passwords differ" : null}
      />
    </>
  );
}
