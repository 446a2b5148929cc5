import { ERRORS, isErrorCode } from "../core/errors.js";

/** SPEC §6: the CLI's exit codes. Server error codes map onto them through ERRORS[code].exit. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  unreachable: 4,
  /** Ctrl-C at a prompt, as shells report SIGINT. */
  cancelled: 130,
} as const;

/** A failure the CLI reports in one line on stderr and turns into its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
    /** Extra lines printed after the message (hints, details). */
    readonly hints: readonly string[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}

export function usageError(message: string, ...hints: string[]): CliError {
  return new CliError(message, EXIT.usage, hints);
}

export function authError(message: string, ...hints: string[]): CliError {
  return new CliError(message, EXIT.auth, hints);
}

/** The server's `{error: {...}}` body, as far as the CLI reads it. */
export interface ErrorPayload {
  code: string;
  message: string;
  request_id?: string;
  details?: { field: string; message: string }[];
  required?: string[];
  retry_after?: number;
  /** With `rate_limited` at sign-in: sent back after `retry_after` (the login command does). */
  wait_ticket?: string;
  mfa_token?: string;
}

/** An error answer of the API, carrying the spec's code. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly payload: ErrorPayload,
  ) {
    super(describe(payload), exitCodeOf(payload.code), hintsOf(payload));
    this.name = "ApiError";
  }

  get code(): string {
    return this.payload.code;
  }
}

/** One table decides: the exit code of a server error code (unknown codes are plain failures). */
export function exitCodeOf(code: string): number {
  return isErrorCode(code) ? ERRORS[code].exit : EXIT.failure;
}

function describe(payload: ErrorPayload): string {
  if (payload.code === "scope_insufficient") {
    const required = payload.required?.length ? payload.required.join(", ") : "unknown";
    return `scope insufficient: this needs ${required}`;
  }
  return `${payload.message} (${payload.code})`;
}

function hintsOf(payload: ErrorPayload): string[] {
  const hints = (payload.details ?? []).map((d) => `${d.field}: ${d.message}`);
  switch (payload.code) {
    case "scope_insufficient":
      hints.push("use a credential whose scopes include the ones above");
      break;
    case "unauthenticated":
    case "token_expired":
    case "token_invalid":
    case "refresh_token_reused":
      hints.push("sign in again with `latchkey login`");
      break;
    case "key_revoked":
    case "key_expired":
    case "key_invalid":
      hints.push(
        "use another key (LATCHKEY_TOKEN or `latchkey auth set-token`) or `latchkey login`",
      );
      break;
    case "reauthentication_required":
      hints.push(
        "confirm it is you: run the command on a terminal, pass --password-stdin (and --code with 2FA on), or run `latchkey auth reauthenticate` first",
      );
      break;
    case "password_login_suspended":
      hints.push(
        "sign in with a passkey (the portal), or reset the password: `POST /v1/auth/password/reset` mails a link",
      );
      break;
    case "email_unverified":
      hints.push(
        "open the link mailed at signup, or run `latchkey email verify <link>` (`latchkey email resend` mails a new one)",
      );
      break;
  }
  if (payload.retry_after !== undefined) hints.push(`retry in ${payload.retry_after} s`);
  if (payload.code === "internal" && payload.request_id)
    hints.push(`request id: ${payload.request_id}`);
  return hints;
}

export function unreachable(apiUrl: string, reason: string): CliError {
  return new CliError(`cannot reach Latchkey at ${apiUrl} (${reason})`, EXIT.unreachable, [
    "is the server running? choose another with --api-url or LATCHKEY_URL",
  ]);
}
