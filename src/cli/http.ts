import type { CredentialStore, StoredCredentials } from "./credentials.js";
import { ApiError, CliError, EXIT, authError, unreachable, type ErrorPayload } from "./exit.js";

type Session = Extract<StoredCredentials, { type: "session" }>;

/** Where the bearer credential comes from: LATCHKEY_TOKEN, the credentials file, or nowhere. */
export type Credential =
  | { source: "env"; token: string }
  | { source: "file"; stored: StoredCredentials }
  | { source: "none"; reason: string };

export interface ClientOptions {
  apiUrl: string;
  store: CredentialStore;
  credential: Credential;
  timeoutMs: number;
  userAgent: string;
}

export interface CallOptions {
  body?: unknown;
  /** `none` for sign-in routes; a string to present that exact bearer (auth set-token). */
  auth?: "stored" | "none" | { bearer: string };
}

/** Refresh a little before expiry, so a token never dies between the check and the server. */
const EXPIRY_MARGIN_MS = 30_000;

function isExpiring(session: Session, now = Date.now()): boolean {
  const at = Date.parse(session.expires_at);
  return Number.isNaN(at) || at - EXPIRY_MARGIN_MS <= now;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export function sessionFrom(apiUrl: string, pair: TokenPair, now = Date.now()): Session {
  return {
    api_url: apiUrl,
    type: "session",
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    expires_at: new Date(now + pair.expires_in * 1000).toISOString(),
  };
}

/** The CLI's HTTP client: JSON in and out, the spec's errors as ApiError, sessions refreshed on their own. */
export class ApiClient {
  constructor(private readonly options: ClientOptions) {}

  get apiUrl(): string {
    return this.options.apiUrl;
  }

  get credential(): Credential {
    return this.options.credential;
  }

  get<T>(path: string, options?: CallOptions): Promise<T> {
    return this.call<T>("GET", path, options);
  }

  post<T>(path: string, body?: unknown, options?: CallOptions): Promise<T> {
    return this.call<T>("POST", path, { ...options, body: body ?? {} });
  }

  patch<T>(path: string, body: unknown, options?: CallOptions): Promise<T> {
    return this.call<T>("PATCH", path, { ...options, body });
  }

  delete<T>(path: string, options?: CallOptions): Promise<T> {
    return this.call<T>("DELETE", path, options);
  }

  async call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const auth = options.auth ?? "stored";
    if (auth === "none") return this.send<T>(method, path, options.body, null);
    if (typeof auth === "object") return this.send<T>(method, path, options.body, auth.bearer);
    const credential = this.options.credential;
    if (credential.source === "none")
      throw authError(
        credential.reason,
        "run `latchkey login`, or set LATCHKEY_TOKEN to an API key",
      );
    if (credential.source === "env")
      return this.send<T>(method, path, options.body, credential.token);
    if (credential.stored.type === "api_key")
      return this.send<T>(method, path, options.body, credential.stored.key);
    let session = credential.stored;
    if (isExpiring(session)) session = await this.refresh(session);
    try {
      return await this.send<T>(method, path, options.body, session.access_token);
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== "token_expired") throw error;
      session = await this.refresh(session);
      return this.send<T>(method, path, options.body, session.access_token);
    }
  }

  /**
   * Trades the refresh token for a new pair and saves it. Under the file lock, and re-reading the
   * file first: when another process already refreshed, its pair is used instead of spending ours twice.
   */
  private async refresh(stale: Session): Promise<Session> {
    const { store } = this.options;
    const fresh = await store.withLock(async () => {
      const current = store.load();
      if (current?.type !== "session" || current.api_url !== stale.api_url)
        throw authError("not logged in (the credentials file changed)", "run `latchkey login`");
      if (current.refresh_token !== stale.refresh_token && !isExpiring(current)) return current;
      let pair: TokenPair;
      try {
        pair = await this.send<TokenPair>(
          "POST",
          "/v1/auth/refresh",
          { refresh_token: current.refresh_token },
          null,
        );
      } catch (error) {
        if (error instanceof ApiError && error.status === 401)
          throw authError(`your session has ended (${error.code})`, "run `latchkey login`");
        throw error;
      }
      const next = sessionFrom(current.api_url, pair);
      store.save(next);
      return next;
    });
    this.options.credential = { source: "file", stored: fresh };
    return fresh;
  }

  private async send<T>(
    method: string,
    path: string,
    body: unknown,
    bearer: string | null,
  ): Promise<T> {
    const { apiUrl, timeoutMs, userAgent } = this.options;
    const headers: Record<string, string> = { accept: "application/json", "user-agent": userAgent };
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    let text: string;
    try {
      response = await fetch(apiUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "manual",
      });
      text = await response.text();
    } catch (error) {
      throw unreachable(apiUrl, reasonOf(error, timeoutMs));
    }
    const parsed = parseJson(text);
    if (response.ok) return (response.status === 204 ? undefined : parsed) as T;
    const payload = (parsed as { error?: ErrorPayload } | undefined)?.error;
    if (payload && typeof payload.code === "string") throw new ApiError(response.status, payload);
    throw new CliError(`unexpected answer from ${apiUrl}: HTTP ${response.status}`, EXIT.failure, [
      "is --api-url / LATCHKEY_URL the address of a Latchkey server?",
    ]);
  }
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function reasonOf(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"))
    return `no answer within ${timeoutMs / 1000} s`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  return error instanceof Error ? error.message : String(error);
}
