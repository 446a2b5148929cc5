/**
 * The portal's only way to the server: the ordinary /v1 API, authenticated by the
 * httpOnly session cookie, through the shared client (src/api/http-client.ts). Unsafe
 * methods carry the CSRF double-submit header, and an expired access token is refreshed
 * once, silently, then the call is retried. A sensitive action refused with
 * `reauthentication_required` opens the step-up dialog; once the person has confirmed, the
 * call is retried once.
 */
import { LatchkeyApiError, requestJson, type FieldProblem } from "../../src/api/http-client.js";
import { currentOrg } from "./org.js";

export { LatchkeyApiError as ApiError };
export type { FieldProblem };

const SESSION_ERRORS = new Set(["unauthenticated", "token_expired", "token_invalid"]);

/** An error the portal shows before (or without) asking the server: a form check, no connection. */
export function localError(
  message: string,
  details?: FieldProblem[],
  code: "invalid_request" | "internal" = "invalid_request",
): LatchkeyApiError {
  return new LatchkeyApiError({ code, status: 0, message, requestId: null, details });
}

/** What a caught value shows as: the server's error, or `fallback` (the server was not reached). */
export function asApiError(caught: unknown, fallback = "request failed (0)"): LatchkeyApiError {
  return caught instanceof LatchkeyApiError ? caught : localError(fallback, undefined, "internal");
}

function csrfToken(): string | null {
  // `__Host-lk_csrf` over https, `lk_csrf` over plain http (src/http/cookies.ts).
  const match = /(?:^|;\s*)(?:__Host-)?lk_csrf=([^;]+)/.exec(document.cookie);
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
    send("POST", "/v1/portal/refresh").then(
      () => true,
      () => false,
    );
  const locked = (): Promise<boolean> =>
    navigator.locks ? navigator.locks.request("latchkey-refresh", run).then(Boolean) : run();
  refreshing ??= locked().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const org = currentOrg();
  if (org) headers["latchkey-org"] = org;
  if (method !== "GET") {
    const csrf = csrfToken();
    if (csrf) headers["x-csrf-token"] = csrf;
  }
  return requestJson<T>({
    method,
    url: path,
    body,
    headers,
    credentials: "same-origin",
    where: location.origin,
  });
}

let onStepUp: (() => Promise<boolean>) | null = null;
let stepping: Promise<boolean> | null = null;

/** The app's step-up dialog: resolves true once the person has reauthenticated, false if not. */
export function whenStepUpNeeded(handler: () => Promise<boolean>): void {
  onStepUp = handler;
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  try {
    return await sendFresh<T>(method, path, body);
  } catch (error) {
    const stepUp =
      error instanceof LatchkeyApiError && error.code === "reauthentication_required" && onStepUp;
    if (!stepUp) throw error;
    // One dialog for calls refused together; each is retried once it is done.
    stepping ??= stepUp().finally(() => {
      stepping = null;
    });
    if (!(await stepping)) throw error;
    return sendFresh<T>(method, path, body);
  }
}

async function sendFresh<T>(method: string, path: string, body?: unknown): Promise<T> {
  try {
    return await send<T>(method, path, body);
  } catch (error) {
    const expired =
      error instanceof LatchkeyApiError &&
      error.status === 401 &&
      SESSION_ERRORS.has(error.code) &&
      !path.startsWith("/v1/portal/");
    if (!expired) throw error;
    if (!(await refreshSession())) {
      onSignedOut();
      throw error;
    }
    return send<T>(method, path, body);
  }
}

/**
 * A call made before anyone is signed in (the steps of a sign-in): no refresh, no step-up,
 * no "signed out" when it is refused.
 */
export function anonymous<T>(path: string, body: unknown = {}): Promise<T> {
  return send<T>("POST", path, body);
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, body),
  put: <T>(path: string, body: unknown) => request<T>("PUT", path, body),
  delete: <T>(path: string) => request<T>("DELETE", path),
};
