import { LatchkeyError } from "../../core/errors.js";
import { checkPassword, PASSWORD_MESSAGES } from "../../core/passwords.js";
import type { Deps } from "../deps.js";

const BREACHED_MESSAGE =
  "this password appears in a list of breached passwords; choose one that has not been exposed";

/**
 * A new password's rules (SPEC §2, NIST 800-63B §3.1.1.2): length, not a well-known one, not
 * the email, and not in the configured breached-password list. Refused as the spec's 400 with
 * the field named. A list that cannot answer lets the password through, logged (never the
 * password): a broken list must not stop sign-ups.
 */
export async function refuseWeakPassword(
  deps: Deps,
  password: string,
  email: string,
  field: string,
): Promise<void> {
  const problem = checkPassword(password, email);
  const message = problem
    ? PASSWORD_MESSAGES[problem]
    : (await breachedCount(deps, password)) > 0
      ? BREACHED_MESSAGE
      : null;
  if (message)
    throw new LatchkeyError("invalid_request", message, { details: [{ field, message }] });
}

async function breachedCount(deps: Deps, password: string): Promise<number> {
  try {
    return await deps.breachedPasswords.count(password);
  } catch (error) {
    deps.logger.warn(
      { err: (error as Error).message },
      "breached-password list unavailable; password not checked against it",
    );
    return 0;
  }
}
