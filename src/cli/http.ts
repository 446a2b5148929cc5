import { LatchkeyApiError, LatchkeyNetworkError, requestJson } from "../api/http-client.js";
import type { ReauthenticatedT } from "../api/lifecycle.js";
import type { TokenPairT as TokenPair } from "../api/schemas.js";
import type { CredentialStore, StoredCredentials } from "./credentials.js";
import { ApiError, CliError, EXIT, authError, unreachable, type ErrorPayload } from "./exit.js";

export type { TokenPair };

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

/** What `POST /v1/auth/reauthenticate` takes: the password, and a code when 2FA is on. */
export interface ReauthenticateProof {
  password: string;
  code?: string;
  backup_code?: string;
}

/**
 * Step-up: given the call that sends a proof, gets one (flags, stdin or prompts) and returns
 * the answer (see cli/step-up.ts).
 */
export type Reauthenticator = (
  send: (proof: ReauthenticateProof) => Promise<ReauthenticatedT>,
) => Promise<ReauthenticatedT>;

/** Refresh a little before expiry, so a token never dies between the check and the server. */
const EXPIRY_MARGIN_MS = 30_000;

function isExpiring(session: Session, now = Date.now()): boolean {
  const at = Date.parse(session.expires_at);
  return Number.isNaN(at) || at - EXPIRY_MARGIN_MS <= now;
}

/**
 * An access token from before RFC 9068 tokens (`typ` other than `at+jwt`): the server refuses it
 * as `token_invalid`, and the session's refresh token gets a current one.
 */
function isPreUpgradeToken(token: string): boolean {
  try {
    const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8"));
    return (header as { typ?: unknown }).typ !== "at+jwt";
  } catch {
    return false;
  }
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
  /** Set by sensitive commands: how to reauthenticate when the server asks (step-up). */
  reauthenticator: Reauthenticator | null = null;
  /**
   * The organization requests act in (issue 16): sent as `Latchkey-Org`, which the key,
   * project, webhook and leak-policy routes honour and the others ignore. Null: personal.
   */
  org: string | null = null;

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
      return await this.sendSession<T>(method, path, options.body, session);
    } catch (error) {
      const stale =
        error instanceof ApiError &&
        (error.code === "token_expired" ||
          (error.code === "token_invalid" && isPreUpgradeToken(session.access_token)));
      if (!stale) throw error;
      session = await this.refresh(session);
      return this.sendSession<T>(method, path, options.body, session);
    }
  }

  /** Reauthenticates the stored session now (`latchkey auth reauthenticate`). */
  async reauthenticateNow(): Promise<ReauthenticatedT> {
    const credential = this.options.credential;
    const reauthenticator = this.reauthenticator;
    if (credential.source !== "file" || credential.stored.type !== "session" || !reauthenticator)
      throw authError("not signed in with a session", "run `latchkey login`");
    let session = credential.stored;
    if (isExpiring(session)) session = await this.refresh(session);
    const current = session;
    const fresh = await reauthenticator((proof) =>
      this.send<ReauthenticatedT>("POST", "/v1/auth/reauthenticate", proof, current.access_token),
    );
    await this.saveAccessToken(current, fresh);
    return fresh;
  }

  /** One call with the session; a step-up request is answered (once) and the call retried. */
  private async sendSession<T>(
    method: string,
    path: string,
    body: unknown,
    session: Session,
  ): Promise<T> {
    try {
      return await this.send<T>(method, path, body, session.access_token);
    } catch (error) {
      const reauthenticator = this.reauthenticator;
      if (!(error instanceof ApiError) || error.code !== "reauthentication_required") throw error;
      // Unarmed (a command that is never sensitive): the error, with its hint, exits 3.
      if (!reauthenticator) throw error;
      const fresh = await reauthenticator((proof) =>
        this.send<ReauthenticatedT>("POST", "/v1/auth/reauthenticate", proof, session.access_token),
      );
      const renewed = await this.saveAccessToken(session, fresh);
      return this.send<T>(method, path, body, renewed.access_token);
    }
  }

  /**
   * Stores a reauthenticated access token (same session, so the refresh token stays; if
   * another process refreshed meanwhile, its refresh token is kept with this access token).
   */
  private async saveAccessToken(stale: Session, fresh: ReauthenticatedT): Promise<Session> {
    const { store } = this.options;
    const next = await store.withLock(async () => {
      const current = store.load();
      const base =
        current?.type === "session" && current.api_url === stale.api_url ? current : stale;
      const renewed: Session = {
        ...base,
        access_token: fresh.access_token,
        expires_at: new Date(Date.now() + fresh.expires_in * 1000).toISOString(),
      };
      store.save(renewed);
      return renewed;
    });
    this.options.credential = { source: "file", stored: next };
    return next;
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
    try {
      return await requestJson<T>({
        method,
        url: apiUrl + path,
        body,
        bearer,
        headers: this.org
          ? { "user-agent": userAgent, "latchkey-org": this.org }
          : { "user-agent": userAgent },
        timeoutMs,
        redirect: "manual",
        where: apiUrl,
      });
    } catch (error) {
      throw cliErrorOf(error, apiUrl, timeoutMs);
    }
  }
}

/** The shared client's errors in the CLI's terms: ApiError carries the exit code (SPEC §6). */
function cliErrorOf(error: unknown, apiUrl: string, timeoutMs: number): unknown {
  const unexpected = (what: string) =>
    new CliError(`unexpected answer from ${apiUrl}: ${what}`, EXIT.failure, [
      "is --api-url / LATCHKEY_URL the address of a Latchkey server?",
    ]);
  if (error instanceof LatchkeyApiError)
    return error.fromServer
      ? new ApiError(error.status, error.body as unknown as ErrorPayload)
      : unexpected(`HTTP ${error.status}`);
  if (error instanceof LatchkeyNetworkError)
    return error.failure === "not_json"
      ? unexpected("not JSON")
      : unreachable(apiUrl, reasonOf(error.cause, timeoutMs));
  return error;
}

function reasonOf(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"))
    return `no answer within ${timeoutMs / 1000} s`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  return error instanceof Error ? error.message : String(error);
}
