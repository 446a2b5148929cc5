/**
 * The portal's only way to the server: the ordinary /v1 API, authenticated by the
 * httpOnly session cookie. Unsafe methods carry the CSRF double-submit header, and an
 * expired access token is refreshed once, silently, then the call is retried.
 */

export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: FieldProblem[];
  readonly body: Record<string, unknown>;

  constructor(status: number, body: Record<string, unknown>) {
    const error = (body.error ?? {}) as Record<string, unknown>;
    super(typeof error.message === "string" ? error.message : `request failed (${status})`);
    this.status = status;
    this.code = typeof error.code === "string" ? error.code : "internal";
    this.details = Array.isArray(error.details) ? (error.details as FieldProblem[]) : [];
    this.body = error;
  }

  /** The message for one field (or any of its sub-paths, such as `scopes.0`). */
  fieldMessage(field: string): string | null {
    const hit = this.details.find((d) => d.field === field || d.field.startsWith(`${field}.`));
    return hit ? hit.message : null;
  }
}

const SESSION_ERRORS = new Set(["unauthenticated", "token_expired", "token_invalid"]);

function csrfToken(): string | null {
  const match = /(?:^|;\s*)lk_csrf=([^;]+)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]!) : null;
}

let refreshing: Promise<boolean> | null = null;
let onSignedOut: () => void = () => {};

/** Called when the session is gone for good (refresh failed): the app shows sign-in. */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

/**
 * One refresh at a time, across tabs too: refresh tokens are single use, and presenting a
 * spent one ends the session. Under the lock, the cookie sent is always the newest one.
 */
export function refreshSession(): Promise<boolean> {
  const run = (): Promise<boolean> =>
    send("POST", "/v1/portal/refresh")
      .then((r) => r.ok)
      .catch(() => false);
  const locked = (): Promise<boolean> =>
    navigator.locks ? navigator.locks.request("latchkey-refresh", run).then(Boolean) : run();
  refreshing ??= locked().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") {
    const csrf = csrfToken();
    if (csrf) headers["x-csrf-token"] = csrf;
  }
  return fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function parse(response: Response): Promise<Record<string, unknown>> {
  if (response.status === 204) return {};
  const text = await response.text();
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    return { error: { code: "internal", message: `unexpected answer (${response.status})` } };
  }
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response = await send(method, path, body);
  if (response.status === 401 && !path.startsWith("/v1/portal/")) {
    const payload = await parse(response);
    const error = new ApiError(401, payload);
    if (!SESSION_ERRORS.has(error.code)) throw error;
    if (!(await refreshSession())) {
      onSignedOut();
      throw error;
    }
    response = await send(method, path, body);
  }
  const payload = await parse(response);
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload as T;
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, body),
  delete: <T>(path: string) => request<T>("DELETE", path),
};
