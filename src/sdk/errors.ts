import type { ErrorCode } from "../core/errors.js";

export type { ErrorCode };

/** A field the server named as wrong in an `invalid_request` answer. */
export interface FieldProblem {
  field: string;
  message: string;
}

interface ApiErrorInit {
  code: ErrorCode;
  message: string;
  status: number;
  requestId: string | null;
  details?: FieldProblem[];
  required?: string[];
  retryAfter?: number;
  mfaToken?: string;
}

/**
 * Latchkey answered with the spec's error JSON. `switch (error.code)` narrows over the
 * closed list of codes (SPEC §5); quote `requestId` when reporting a problem.
 */
export class LatchkeyApiError extends Error {
  override readonly name = "LatchkeyApiError";
  readonly code: ErrorCode;
  readonly status: number;
  readonly requestId: string | null;
  readonly details: FieldProblem[] | undefined;
  /** Scopes the action needs (with `scope_insufficient`). */
  readonly required: string[] | undefined;
  /** Seconds to wait (with `rate_limited` and `too_many_attempts`). */
  readonly retryAfter: number | undefined;
  /** With `mfa_required`: pass it to `auth.loginMfa` together with a code. */
  readonly mfaToken: string | undefined;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.code = init.code;
    this.status = init.status;
    this.requestId = init.requestId;
    this.details = init.details;
    this.required = init.required;
    this.retryAfter = init.retryAfter;
    this.mfaToken = init.mfaToken;
  }
}

/** Latchkey could not be reached, or its answer could not be read (no HTTP status to act on). */
export class LatchkeyNetworkError extends Error {
  override readonly name = "LatchkeyNetworkError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : null;
}

/** Reads an error answer; anything not in the spec's shape becomes `internal` with its status. */
export function apiErrorFrom(
  status: number,
  body: unknown,
  headers: { get(name: string): string | null },
): LatchkeyApiError {
  const error = asRecord(asRecord(body)?.error);
  const header = headers.get("retry-after");
  const retryHeader = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  const requestId =
    typeof error?.request_id === "string" ? error.request_id : headers.get("x-request-id");
  if (!error || typeof error.code !== "string") {
    return new LatchkeyApiError({
      code: "internal",
      message: `unexpected answer from Latchkey (HTTP ${status})`,
      status,
      requestId,
      retryAfter: retryHeader,
    });
  }
  return new LatchkeyApiError({
    code: error.code as ErrorCode,
    message: typeof error.message === "string" ? error.message : error.code,
    status,
    requestId,
    details: Array.isArray(error.details) ? (error.details as FieldProblem[]) : undefined,
    required: Array.isArray(error.required) ? (error.required as string[]) : undefined,
    retryAfter: typeof error.retry_after === "number" ? error.retry_after : retryHeader,
    mfaToken: typeof error.mfa_token === "string" ? error.mfa_token : undefined,
  });
}
