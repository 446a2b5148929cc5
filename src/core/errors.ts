/** The spec's error codes (SPEC §5), each with its HTTP status and CLI exit code. */
export const ERRORS = {
  invalid_request: { status: 400, exit: 2 },
  unauthenticated: { status: 401, exit: 3 },
  invalid_credentials: { status: 401, exit: 3 },
  mfa_required: { status: 401, exit: 3 },
  invalid_mfa_code: { status: 401, exit: 3 },
  // A passkey's answer did not verify (unknown credential, wrong origin, spent challenge …).
  passkey_invalid: { status: 401, exit: 3 },
  // SPEC §9 step-up: the action needs an authentication under LATCHKEY_STEP_UP_MAX_AGE old.
  reauthentication_required: { status: 401, exit: 3 },
  token_expired: { status: 401, exit: 3 },
  token_invalid: { status: 401, exit: 3 },
  refresh_token_reused: { status: 401, exit: 3 },
  key_revoked: { status: 401, exit: 3 },
  key_expired: { status: 401, exit: 3 },
  key_invalid: { status: 401, exit: 3 },
  key_disabled: { status: 401, exit: 3 },
  // Issue 17: a leak report named the key and its owner's policy is `quarantine`.
  key_leaked: { status: 401, exit: 3 },
  scope_insufficient: { status: 403, exit: 1 },
  scope_not_grantable: { status: 403, exit: 1 },
  scope_expansion_not_allowed: { status: 403, exit: 1 },
  forbidden: { status: 403, exit: 1 },
  plan_limit_reached: { status: 403, exit: 1 },
  ip_not_allowed: { status: 403, exit: 1 },
  project_mismatch: { status: 403, exit: 1 },
  email_unverified: { status: 403, exit: 1 },
  // NIST 800-63B §5.2.2: 100 consecutive failed passwords for the account; a passkey sign-in
  // or a password reset lifts it (SECURITY.md, "Sign-in throttling"). Exit 3: an authentication.
  password_login_suspended: { status: 403, exit: 3 },
  // Issue 17: a webhook URL that is not http(s), or resolves to a loopback, private or
  // link-local address (unless LATCHKEY_WEBHOOKS_ALLOW_PRIVATE=true).
  webhook_url_not_allowed: { status: 400, exit: 2 },
  // Issue 16: an organization's policy refuses it (key lifetime, environment, allowed scopes,
  // required two-factor); also a verification of an org key its organization's policy forbids.
  policy_violation: { status: 403, exit: 1 },
  not_found: { status: 404, exit: 1 },
  conflict: { status: 409, exit: 1 },
  payload_too_large: { status: 413, exit: 1 },
  rate_limited: { status: 429, exit: 1 },
  too_many_attempts: { status: 429, exit: 1 },
  // Issue 20: a key's usage credits are spent (until its refill, or an owner's PATCH).
  usage_exceeded: { status: 429, exit: 1 },
  internal: { status: 500, exit: 1 },
} as const satisfies Record<string, { status: number; exit: number }>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERRORS, value);
}

/**
 * The refusals a credential check gives (SPEC §4, §5), each an ERRORS code, with the message
 * that goes with it. `POST /v1/keys/verify` answers the `key_*` ones and the restrictions
 * (VERIFY_REFUSALS); the SDK's verifier answers all of them.
 */
export const REFUSAL_MESSAGES = {
  unauthenticated: "a bearer credential is required",
  key_invalid: "API key is not valid",
  key_revoked: "API key has been revoked",
  key_expired: "API key has expired",
  key_disabled: "API key is disabled",
  key_leaked: "API key was reported leaked and is quarantined until its owner releases it",
  token_invalid: "access token is not valid",
  token_expired: "access token has expired",
  scope_insufficient: "the credential lacks a scope this route needs",
  project_mismatch: "API key is restricted to another project",
  ip_not_allowed: "API key may not be used from this address",
  rate_limited: "API key's rate limit is exhausted",
  usage_exceeded: "API key's usage credits are spent",
  policy_violation: "API key is refused by its organization's policy",
} as const satisfies Partial<Record<ErrorCode, string>>;

/** The codes of a refused `POST /v1/keys/verify`, in the spec's order; `valid` is the other answer. */
export const VERIFY_REFUSALS = [
  "key_invalid",
  "key_revoked",
  "key_expired",
  "key_disabled",
  "key_leaked",
  "scope_insufficient",
  "project_mismatch",
  "ip_not_allowed",
  "rate_limited",
  "usage_exceeded",
  "policy_violation",
] as const satisfies readonly (keyof typeof REFUSAL_MESSAGES)[];

export type VerifyRefusal = (typeof VERIFY_REFUSALS)[number];

/** Extra fields carried in the error body beside code, message and request_id. */
export type ErrorExtras = Record<string, unknown>;

/** The one error a request aborts with; the HTTP layer turns it into SPEC §5 JSON. */
export class LatchkeyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly extras: ErrorExtras;
  /** Seconds, sent as Retry-After when set. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, extras: ErrorExtras = {}, retryAfter?: number) {
    super(message);
    this.name = "LatchkeyError";
    this.code = code;
    this.status = ERRORS[code].status;
    this.extras = extras;
    this.retryAfter = retryAfter;
  }
}

/**
 * 429 `rate_limited` for a sign-in inside its account's back-off: `retry_after`, and with it
 * the `wait_ticket` that lets the next attempt through once that wait has passed.
 */
export function signInBackoff(waitMs: number, ticket: string | null): LatchkeyError {
  const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
  const extras: ErrorExtras = { retry_after: retryAfter };
  if (ticket !== null) extras.wait_ticket = ticket;
  return new LatchkeyError(
    "rate_limited",
    "too many failed sign-ins for this account; wait retry_after seconds, then send wait_ticket with the next attempt",
    extras,
    retryAfter,
  );
}

/** 429 `too_many_attempts` with `retry_after` (and Retry-After): whole seconds, at least 1. */
export function tooManyAttempts(message: string, waitMs: number): LatchkeyError {
  const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
  return new LatchkeyError("too_many_attempts", message, { retry_after: retryAfter }, retryAfter);
}
