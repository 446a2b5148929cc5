/**
 * The one HTTP client shape of the SDK, the CLI and the portal: JSON over `fetch`, the
 * spec's error JSON (SPEC §5) read into one error class, and a failure to reach the server
 * kept apart from an answer. Browser- and worker-safe: no Node module, no zod.
 */
import type { ErrorCode } from "../core/errors.js";

export type { ErrorCode };

export type Fetch = typeof globalThis.fetch;

/** A field the server named as wrong in an `invalid_request` answer. */
export interface FieldProblem {
  field: string;
  message: string;
}

export interface ApiErrorInit {
  code: ErrorCode;
  message: string;
  status: number;
  requestId: string | null;
  details?: FieldProblem[] | undefined;
  required?: string[] | undefined;
  retryAfter?: number | undefined;
  mfaToken?: string | undefined;
  waitTicket?: string | undefined;
  /** The `error` object as the server sent it; empty when the answer was not the spec's JSON. */
  body?: Readonly<Record<string, unknown>>;
}

/**
 * Latchkey answered with an error. `switch (error.code)` narrows over the closed list of
 * codes (SPEC §5); quote `requestId` when reporting a problem.
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
  /**
   * With `rate_limited` at sign-in (the account's back-off): after `retryAfter` seconds, send
   * it as `wait_ticket` with the same sign-in; it is evaluated then, once.
   */
  readonly waitTicket: string | undefined;
  /** The `error` object as sent; empty when the answer was not the spec's error JSON. */
  readonly body: Readonly<Record<string, unknown>>;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.code = init.code;
    this.status = init.status;
    this.requestId = init.requestId;
    this.details = init.details;
    this.required = init.required;
    this.retryAfter = init.retryAfter;
    this.mfaToken = init.mfaToken;
    this.waitTicket = init.waitTicket;
    this.body = init.body ?? {};
  }

  /** Whether the answer was the spec's error JSON (not a proxy's page or an empty body). */
  get fromServer(): boolean {
    return typeof this.body.code === "string";
  }

  /** The message for one field (or any of its sub-paths, such as `scopes.0`). */
  fieldMessage(field: string): string | null {
    const hit = this.details?.find((d) => d.field === field || d.field.startsWith(`${field}.`));
    return hit ? hit.message : null;
  }
}

/** Why no answer could be used: not reached, the answer cut off, or an answer that is not JSON. */
export type NetworkFailure = "unreachable" | "cut_off" | "not_json";

/** Latchkey could not be reached, or its answer could not be read (no HTTP status to act on). */
export class LatchkeyNetworkError extends Error {
  override readonly name = "LatchkeyNetworkError";
  readonly failure: NetworkFailure;

  constructor(
    message: string,
    options?: { cause?: unknown; failure?: NetworkFailure | undefined },
  ) {
    super(message, options);
    this.failure = options?.failure ?? "unreachable";
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
    waitTicket: typeof error.wait_ticket === "string" ? error.wait_ticket : undefined,
    body: error,
  });
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface JsonRequest {
  method: string;
  /** Absolute, or relative to the page (the portal). */
  url: string;
  /** Sent as JSON when given. */
  body?: unknown;
  /** Sent as `Authorization: Bearer …` when given. */
  bearer?: string | null | undefined;
  headers?: Record<string, string>;
  timeoutMs?: number | undefined;
  credentials?: RequestCredentials;
  redirect?: RequestRedirect;
  fetch?: Fetch | undefined;
  /** How the server is named in a network error: `cannot reach Latchkey at <where>`. */
  where?: string;
}

/**
 * One JSON call. Resolves with the parsed answer (`undefined` for an empty body); rejects with
 * `LatchkeyApiError` for an error status and `LatchkeyNetworkError` when no answer can be used.
 */
export async function requestJson<T>(request: JsonRequest): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...request.headers };
  if (request.bearer) headers.authorization = `Bearer ${request.bearer}`;
  let body: string | undefined;
  if (request.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(request.body);
  }
  const where = request.where ?? request.url;
  const fetchImpl = request.fetch ?? globalThis.fetch.bind(globalThis);
  let response: Response;
  try {
    response = await fetchImpl(request.url, {
      method: request.method,
      headers,
      body,
      ...(request.timeoutMs === undefined
        ? {}
        : { signal: AbortSignal.timeout(request.timeoutMs) }),
      ...(request.credentials === undefined ? {} : { credentials: request.credentials }),
      ...(request.redirect === undefined ? {} : { redirect: request.redirect }),
    });
  } catch (error) {
    throw new LatchkeyNetworkError(`cannot reach Latchkey at ${where}`, { cause: error });
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw new LatchkeyNetworkError("the answer from Latchkey was cut off", {
      cause: error,
      failure: "cut_off",
    });
  }
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      if (response.ok)
        throw new LatchkeyNetworkError("Latchkey answered with something other than JSON", {
          cause: error,
          failure: "not_json",
        });
    }
  }
  if (!response.ok) throw apiErrorFrom(response.status, parsed, response.headers);
  return parsed as T;
}
