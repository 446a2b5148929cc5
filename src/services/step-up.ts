import { LatchkeyError } from "../core/errors.js";
import { isRecentAuthentication } from "../core/step-up.js";
import type { Deps } from "./deps.js";

/** Who asks for a sensitive action: an API key (keyId set) or a session with its auth time. */
export interface StepUpSubject {
  keyId: string | null;
  /** The session's `auth_time` (epoch ms); absent for an API key. */
  authTime?: number | undefined;
}

/**
 * SPEC §9 step-up: a sensitive action needs an authentication (`auth_time`) younger than
 * LATCHKEY_STEP_UP_MAX_AGE, else 401 `reauthentication_required` (then
 * `POST /v1/auth/reauthenticate` and retry). An API key proves no person and cannot
 * reauthenticate, so it is refused outright with 403 `forbidden` — a leaked key must not be
 * able to do what a stolen hours-old session token cannot.
 */
export function requireStepUp(deps: Deps, subject: StepUpSubject, action: string): void {
  if (subject.keyId !== null)
    throw new LatchkeyError(
      "forbidden",
      `${action} needs a signed-in session that authenticated in the last ${minutes(deps)}; an API key cannot`,
    );
  const maxAgeMs = deps.config.stepUpMaxAgeMs;
  if (!isRecentAuthentication(subject.authTime, deps.now(), maxAgeMs))
    throw new LatchkeyError(
      "reauthentication_required",
      `${action} needs an authentication under ${minutes(deps)} old: confirm your password (and 2FA code) with POST /v1/auth/reauthenticate, then retry`,
      { max_age: Math.floor(maxAgeMs / 1000) },
    );
}

function minutes(deps: Deps): string {
  const seconds = Math.floor(deps.config.stepUpMaxAgeMs / 1000);
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}
