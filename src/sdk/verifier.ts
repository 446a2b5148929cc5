import {
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from "jose";
import type { z } from "zod";
import type { VerifyResponse } from "../api/keys.js";
import type { Whoami } from "../api/schemas.js";
import { sha256 } from "../core/digest.js";
import { looksLikeJwt, parseKey } from "../core/key-format.js";
import { LatchkeyApiError } from "./errors.js";
import { LeaseBook } from "./leases.js";
import { LruCache } from "./lru.js";
import { RevocationStream, type RevocationEvent } from "./revocation-stream.js";
import { Transport, type Fetch } from "./transport.js";
import { HitBuffer, type HitOutcome, type UsageEntry } from "./usage-buffer.js";
import {
  cleanIp,
  refuse,
  unavailable,
  type Metering,
  type NamedLimitState,
  type Principal,
  type VerifyOptions,
  type VerifyResult,
} from "./verdict.js";

export type { Metering, NamedLimitState, Principal, VerifyOptions, VerifyResult };

type VerifyAnswer = z.output<typeof VerifyResponse>;
type WhoamiAnswer = z.output<typeof Whoami>;
/** A principal (`cachedHit` when the answer came from the cache), or already a verdict. */
type Found = { principal: Principal; cachedHit?: true; metering?: Metering } | VerifyResult;

export interface VerifierOptions {
  /** Where Latchkey listens. */
  baseUrl: string;
  /** The service's own credential: an API key with `keys:verify`. */
  apiKey: string;
  /** `iss` of access tokens (`LATCHKEY_ISSUER`); default `latchkey`. */
  issuer?: string;
  /**
   * The audience this service accepts (one of `LATCHKEY_TOKEN_AUDIENCE`); a token whose `aud`
   * holds none of them is refused. Default `latchkey`.
   */
  audience?: string | readonly string[];
  /** Clock skew allowed on `exp`, `iat` and `nbf`, in seconds; default 5. */
  clockToleranceSeconds?: number;
  /** How long a positive answer is reused while the revocation stream is live; default 10 s. */
  cacheTtlMs?: number;
  /** How many answers are kept; default 1000. 0 turns caching off. */
  cacheSize?: number;
  /** Least time between two JWKS fetches on unknown `kid`s; default 60 s (once a minute). */
  jwksCooldownMs?: number;
  /** Follow `GET /v1/keys/revocations`; default true. Without it answers live at most 1 s. */
  revocations?: boolean;
  fetch?: Fetch;
  timeoutMs?: number;
  /** Told about revocation-stream failures (it reconnects by itself). */
  onError?: (error: Error) => void;
  /**
   * How often cached hits are reported to `POST /v1/keys/usage` (also on `close()` and
   * `flushUsage()`); default 1 s.
   */
  usageFlushMs?: number;
  /** Epoch milliseconds; tests pass their own clock. */
  now?: () => number;
}

export interface Verifier {
  verify(credential: string | null | undefined, options?: VerifyOptions): Promise<VerifyResult>;
  /** Whether the revocation stream is live (answers are then cached for `cacheTtlMs`). */
  readonly streaming: boolean;
  /** Reports the cached hits counted so far (it also happens every `usageFlushMs`); never throws. */
  flushUsage(): Promise<void>;
  /** Stops the revocation stream and reports the cached hits still buffered. */
  close(): Promise<void>;
}

interface Entry {
  expiresAt: number;
  principal: Principal;
  /** For keys: SHA-256 of the key, matched against the stream's hash prefixes. */
  keyHash: string | null;
  /** The key's own expiry (epoch ms): an answer is never reused past it. */
  keyExpiresAt: number | null;
}

const STREAM_DOWN_TTL_MS = 1000;
/** An exchanged token lives at most this long (Latchkey caps it): how long a key's news matters. */
const KEY_TOKEN_MAX_MS = 900_000;
/** Keys and users heard about, remembered at most (oldest forgotten first). */
const NEWS_LIMIT = 100_000;
/** Uses of a key's rate limit asked for with each verification (Latchkey grants what fits). */
const LEASE_ASK = 1000;
/** Entries per `POST /v1/keys/usage` (its bound, src/api/keys.ts). */
const REPORT_ENTRIES = 500;

/**
 * Verifies credentials for a platform's own services.
 *
 * - Access tokens: signature, issuer and expiry checked offline against Latchkey's JWKS
 *   (refetched on an unknown `kid`). Access tokens carry no scopes, so the session's
 *   effective scopes come from one `GET /v1/auth/whoami` with the token, cached per
 *   session like a key answer (and dropped when the session ends or the user changes).
 * - API keys: `POST /v1/keys/verify`; positive answers cached (keyed by SHA-256 of the key
 *   and the caller's address) for `cacheTtlMs`, and dropped as soon as the revocation
 *   stream reports the key changed. While the stream is down answers live at most 1 s.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  return new LatchkeyVerifier(options);
}

class LatchkeyVerifier implements Verifier {
  private readonly http: Transport;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private readonly cache: LruCache<Entry>;
  private readonly stream: RevocationStream | null;
  private readonly issuer: string;
  private readonly audience: string[];
  private readonly clockTolerance: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** Bumped by every invalidation, so an answer that raced one is not cached. */
  private generation = 0;
  private live = false;
  private readonly caching: boolean;
  /** Uses of keys' rate limits leased for cached hits. */
  private readonly leases: LeaseBook;
  /** Cached hits not yet reported to Latchkey. */
  private readonly hits = new HitBuffer();
  private readonly usageTimer: NodeJS.Timeout;
  private reporting: Promise<void> = Promise.resolve();
  private readonly onError: ((error: Error) => void) | undefined;
  /** Since when (epoch ms) the revocation stream has been live without a break; null: down. */
  private liveSince: number | null = null;
  /** Keys revoked, by id, and when the stream said so: their exchanged tokens are refused. */
  private readonly revokedKeys = new Map<string, number>();
  /** When a key (`k:id`) or user (`u:id`) last changed, as the stream told it. */
  private readonly news = new Map<string, number>();

  constructor(options: VerifierOptions) {
    if (!options.apiKey) throw new TypeError("apiKey (a key with keys:verify) is required");
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.http = new Transport({
      baseUrl: options.baseUrl,
      fetch: fetchImpl,
      timeoutMs: options.timeoutMs ?? 5_000,
      userAgent: "latchkey-verifier",
    });
    this.http.credential = options.apiKey;
    this.issuer = options.issuer ?? "latchkey";
    const audience = options.audience ?? "latchkey";
    this.audience = typeof audience === "string" ? [audience] : [...audience];
    if (this.audience.length === 0) throw new TypeError("audience must name at least one");
    this.clockTolerance = options.clockToleranceSeconds ?? 5;
    this.ttlMs = options.cacheTtlMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.cache = new LruCache<Entry>(options.cacheSize ?? 1000);
    this.caching = this.ttlMs > 0 && (options.cacheSize ?? 1000) > 0;
    this.leases = new LeaseBook(Math.max(1, options.cacheSize ?? 1000));
    this.onError = options.onError;
    this.usageTimer = setInterval(() => void this.flushUsage(), options.usageFlushMs ?? 1000);
    this.usageTimer.unref();
    this.jwks = createRemoteJWKSet(new URL(this.http.url("/.well-known/jwks.json")), {
      // A token under an unknown kid refetches the key set at most once a minute, so a flood
      // of forged kids cannot turn every request into a JWKS fetch.
      cooldownDuration: options.jwksCooldownMs ?? 60_000,
      timeoutDuration: options.timeoutMs ?? 5_000,
      [customFetch]: fetchImpl,
    });
    this.stream =
      options.revocations === false
        ? null
        : new RevocationStream({
            url: this.http.url("/v1/keys/revocations"),
            credential: options.apiKey,
            fetch: fetchImpl,
            onEvent: (event) => this.invalidate(event),
            onState: (connected) => this.setLive(connected),
            onError: options.onError,
          });
    this.stream?.start();
  }

  get streaming(): boolean {
    return this.live;
  }

  async verify(
    credential: string | null | undefined,
    options: VerifyOptions = {},
  ): Promise<VerifyResult> {
    if (!credential) return refuse("unauthenticated");
    const required = [...(options.scopes ?? [])];
    options = { ...options, ip: cleanIp(options.ip) };
    const found: Found = looksLikeJwt(credential)
      ? await this.session(credential)
      : await this.apiKey(credential, options, required);
    if ("valid" in found) return found;
    const { principal } = found;
    const verdict = decide(principal, options, required, found.metering ?? UNMETERED);
    // A hit answered from the cache is counted as Latchkey counts a verification.
    if (found.cachedHit && principal.keyId !== null)
      this.hits.add({
        keyId: principal.keyId,
        endpoint: options.endpoint,
        projectId: options.projectId,
        ip: options.ip,
        outcome: verdict.valid ? "valid" : (verdict.code as HitOutcome),
        at: this.now(),
      });
    return verdict;
  }

  flushUsage(): Promise<void> {
    // One report at a time; whatever happens, the chain (and the timer's calls) go on.
    this.reporting = this.reporting.then(() => this.report()).catch((e) => this.tell(e, []));
    return this.reporting;
  }

  async close(): Promise<void> {
    clearInterval(this.usageTimer);
    await this.stream?.stop();
    this.cache.clear();
    this.leases.clear();
    await this.flushUsage();
  }

  /** Sends the buffered hits, a bounded batch at a time; what fails goes back for next time. */
  private async report(): Promise<void> {
    // What is buffered now, in batches: hits that arrive meanwhile wait for the next report
    // (under steady traffic, looping until the buffer is empty would never stop reporting).
    for (let left = this.hits.size; left > 0;) {
      const uses = this.hits.take(Math.min(REPORT_ENTRIES, left));
      left -= uses.length;
      if (uses.length === 0) break;
      try {
        await this.http.request("POST", "/v1/keys/usage", { body: { uses } });
      } catch (error) {
        // A batch Latchkey refuses as malformed would be refused again: drop it, and say so.
        if (!(error instanceof LatchkeyApiError && error.status === 400)) this.hits.restore(uses);
        this.tell(error, uses);
        return;
      }
    }
    if (this.hits.dropped > 0) {
      this.tell(new Error(`${this.hits.dropped} cached hits were not counted: buffer full`), []);
      this.hits.dropped = 0;
    }
  }

  private tell(error: unknown, uses: UsageEntry[]): void {
    const hits = uses.reduce((sum, use) => sum + use.count, 0);
    const why = error instanceof Error ? error.message : String(error);
    const message = uses.length ? `reporting ${hits} cached hits failed: ${why}` : why;
    try {
      this.onError?.(new Error(message, { cause: error }));
    } catch {
      // The caller's handler must not break reporting.
    }
  }

  private setLive(connected: boolean): void {
    // Events may have been missed while disconnected: start from an empty cache either way.
    if (connected !== this.live || !connected) this.flush();
    if (connected && !this.live) this.liveSince = this.now();
    if (!connected) this.liveSince = null;
    this.live = connected;
  }

  /** What the stream says of keys and users, kept while an exchanged token could still live. */
  private hear(event: RevocationEvent): void {
    const now = this.now();
    const note = (map: Map<string, number>, id: string) => {
      map.delete(id);
      if (map.size >= NEWS_LIMIT) map.delete(map.keys().next().value!);
      map.set(id, now);
    };
    if (event.type === "key_changed") {
      note(this.news, `k:${event.keyId}`);
      if (event.revoked) note(this.revokedKeys, event.keyId);
    } else if (event.type === "user_changed") note(this.news, `u:${event.userId}`);
    for (const map of [this.news, this.revokedKeys]) {
      for (const [id, at] of map) {
        if (now - at < KEY_TOKEN_MAX_MS + this.clockTolerance * 1000) break;
        map.delete(id);
      }
    }
  }

  private flush(): void {
    this.generation += 1;
    this.cache.clear();
  }

  private invalidate(event: RevocationEvent): void {
    this.hear(event);
    this.generation += 1;
    this.cache.deleteWhere((entry) => {
      const p = entry.principal;
      switch (event.type) {
        case "key_changed":
          return (
            p.keyId === event.keyId ||
            (event.keyHashPrefix.length >= 8 && !!entry.keyHash?.startsWith(event.keyHashPrefix))
          );
        case "session_ended":
          return p.sessionId === event.sessionId;
        case "user_changed":
          return p.userId === event.userId;
      }
    });
  }

  private remember(cacheKey: string, entry: Omit<Entry, "expiresAt">, generation: number): void {
    if (generation !== this.generation) return;
    const ttl = this.live ? this.ttlMs : Math.min(this.ttlMs, STREAM_DOWN_TTL_MS);
    if (ttl <= 0) return;
    let expiresAt = this.now() + ttl;
    if (entry.keyExpiresAt !== null) expiresAt = Math.min(expiresAt, entry.keyExpiresAt);
    this.cache.set(cacheKey, { ...entry, expiresAt });
  }

  private async session(token: string): Promise<{ principal: Principal } | VerifyResult> {
    let sub: string;
    let sid: string;
    let amr: string[];
    let authTime: number;
    try {
      // RFC 9068: the type, issuer, audience and expiry of an access token, all checked.
      const { payload } = await jwtVerify(token, this.jwks, {
        issuer: this.issuer,
        audience: this.audience,
        typ: "at+jwt",
        algorithms: ["EdDSA", "ES256"],
        requiredClaims: ["sub", "exp", "iat"],
        clockTolerance: this.clockTolerance,
        currentDate: new Date(this.now()),
      });
      if (payload.token_use === "key") return this.keyToken(token, payload);
      if (
        payload.token_use !== undefined ||
        payload.key_id !== undefined ||
        typeof payload.sid !== "string" ||
        typeof payload.auth_time !== "number"
      )
        return refuse("token_invalid");
      sub = payload.sub!;
      sid = payload.sid;
      authTime = payload.auth_time * 1000;
      amr = Array.isArray(payload.amr) ? payload.amr.filter((v) => typeof v === "string") : [];
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) return refuse("token_expired");
      if (error instanceof joseErrors.JWKSTimeout) return unavailable("JWKS timed out");
      // Not jose's verdict on the token: the key set could not be fetched or read.
      if (!(error instanceof joseErrors.JOSEError)) return unavailable("JWKS could not be fetched");
      return refuse("token_invalid");
    }
    const cacheKey = `s:${sid}`;
    const hit = this.cache.get(cacheKey, this.now());
    if (hit && hit.principal.userId === sub)
      return { principal: { ...hit.principal, amr, authTime } };
    const generation = this.generation;
    let who: WhoamiAnswer;
    try {
      who = await this.http.request<WhoamiAnswer>("GET", "/v1/auth/whoami", { credential: token });
    } catch (error) {
      if (error instanceof LatchkeyApiError && error.status === 401) return refuse(error.code);
      return unavailable("Latchkey did not answer whoami");
    }
    const principal: Principal = {
      type: "session",
      userId: who.user_id,
      orgId: who.org_id ?? null,
      sessionId: sid,
      keyId: null,
      environment: null,
      projectId: null,
      scopes: who.scopes,
      amr,
      meta: null,
      authTime,
    };
    this.remember(cacheKey, { principal, keyHash: null, keyExpiresAt: null }, generation);
    return { principal };
  }

  /**
   * A token exchanged for an API key, its signature already checked: trusted offline when
   * the stream has been live since before it was issued and has said nothing of its key or
   * owner since; a token of a revoked key is refused at once. Otherwise (stream down,
   * verifier just started, the key or its owner changed) Latchkey confirms it once through
   * `GET /v1/auth/whoami`, which also narrows its scopes to the key's current ones.
   */
  private async keyToken(token: string, payload: JWTPayload): Promise<Found> {
    const { key_id: keyId, sub, scope, environment, project_id: projectId } = payload;
    if (
      typeof keyId !== "string" ||
      payload.owner_id !== sub ||
      typeof scope !== "string" ||
      (environment !== "live" && environment !== "test") ||
      (projectId !== null && typeof projectId !== "string") ||
      typeof payload.jti !== "string" ||
      payload.sid !== undefined ||
      payload.exp! - payload.iat! > KEY_TOKEN_MAX_MS / 1000
    )
      return refuse("token_invalid");
    if (this.revokedKeys.has(keyId)) return refuse("key_revoked");
    const principal: Principal = {
      type: "api_key",
      userId: sub!,
      // An organization's id is its account's (`org_…`): known offline from the token.
      orgId: sub!.startsWith("org_") ? sub! : null,
      sessionId: null,
      keyId,
      environment,
      projectId,
      scopes: scope === "" ? [] : scope.split(" "),
      amr: [],
      meta: null,
      authTime: null,
      exchanged: true,
    };
    const issuedAt = payload.iat! * 1000 - this.clockTolerance * 1000;
    const heard = Math.max(this.news.get(`k:${keyId}`) ?? 0, this.news.get(`u:${sub}`) ?? 0);
    if (this.liveSince !== null && this.liveSince <= issuedAt && heard < issuedAt)
      return { principal };
    const cacheKey = `x:${payload.jti}`;
    const hit = this.cache.get(cacheKey, this.now());
    if (hit) return { principal: hit.principal };
    const generation = this.generation;
    let who: WhoamiAnswer;
    try {
      who = await this.http.request<WhoamiAnswer>("GET", "/v1/auth/whoami", { credential: token });
    } catch (error) {
      if (error instanceof LatchkeyApiError && error.status === 401) return refuse(error.code);
      return unavailable("Latchkey did not answer whoami");
    }
    if (who.key_id !== keyId || who.user_id !== sub) return refuse("token_invalid");
    const confirmed = { ...principal, scopes: who.scopes };
    const keyExpiresAt = payload.exp! * 1000;
    this.remember(cacheKey, { principal: confirmed, keyHash: null, keyExpiresAt }, generation);
    return { principal: confirmed };
  }

  private async apiKey(key: string, options: VerifyOptions, required: string[]): Promise<Found> {
    // The checksum tells noise from a key offline: garbage never costs a round trip.
    if (!parseKey(key)) return refuse("key_invalid");
    const keyHash = sha256(key);
    const cacheKey = `k:${keyHash}:${options.ip ?? ""}`;
    const now = this.now();
    const hit = this.cache.get(cacheKey, now);
    // A cached answer is used only with a leased use of the key's rate limit to spend on it;
    // without one, Latchkey is asked again (which also re-checks the key).
    if (hit && this.leases.take(hit.principal.keyId!, now))
      return { principal: hit.principal, cachedHit: true };
    const generation = this.generation;
    const sentAt = now;
    let answer: VerifyAnswer;
    try {
      answer = await this.http.request<VerifyAnswer>("POST", "/v1/keys/verify", {
        body: {
          key,
          scopes: required.length > 0 ? required : undefined,
          project_id: options.projectId,
          endpoint: options.endpoint?.slice(0, 200),
          ip: options.ip,
          lease: this.caching ? LEASE_ASK : undefined,
          cost: options.cost,
          ratelimits: options.ratelimits?.map((r) => ({ name: r.name, cost: r.cost })),
        },
      });
    } catch (error) {
      if (error instanceof LatchkeyApiError)
        return unavailable(`Latchkey refused the verifier (${error.code})`);
      return unavailable("Latchkey cannot be reached");
    }
    if (!answer.key_id || !answer.owner_id || answer.code !== "valid") {
      if (answer.code === "valid") return refuse("key_invalid");
      const retryAfter = answer.ratelimit
        ? Math.max(1, Math.ceil((answer.ratelimit.reset - this.now()) / 1000))
        : undefined;
      const metered = answer.code === "usage_exceeded" || answer.code === "rate_limited";
      return refuse(answer.code, {
        required: answer.code === "scope_insufficient" ? required : undefined,
        retryAfter: answer.code === "rate_limited" ? retryAfter : undefined,
        ...(metered ? { remaining: answer.remaining, ratelimits: answer.ratelimits } : {}),
      });
    }
    const principal: Principal = {
      type: "api_key",
      userId: answer.owner_id,
      orgId: answer.org_id ?? null,
      sessionId: null,
      keyId: answer.key_id,
      environment: answer.environment,
      projectId: answer.project_id,
      scopes: answer.scopes,
      amr: [],
      meta: answer.meta ?? null,
      authTime: null,
    };
    // A key with credits or named limits is never answered from the cache: every call must
    // spend on Latchkey's counters, which stay exact across instances and owners' keys (a
    // lease could not split an owner's shared budget, or a per-call cost, without loss).
    // (A server from before issue 20 sends neither field: its keys are cached as before.)
    const remaining = answer.remaining ?? null;
    const ratelimits = answer.ratelimits ?? [];
    if (remaining !== null || ratelimits.length > 0)
      return { principal, metering: { remaining, ratelimits } };
    const keyExpiresAt = answer.expires_at ? Date.parse(answer.expires_at) : null;
    this.remember(cacheKey, { principal, keyHash, keyExpiresAt }, generation);
    // Measured from when the question left: a slow answer or a skewed clock only shortens it.
    if (answer.lease && generation === this.generation)
      this.leases.add(answer.key_id, answer.lease.granted, sentAt + answer.lease.reset_in, sentAt);
    return { principal };
  }
}

/** A principal's verdict for the call: its project, then the scopes the route needs. */
const UNMETERED: Metering = { remaining: null, ratelimits: [] };

function decide(
  principal: Principal,
  options: VerifyOptions,
  required: string[],
  metering: Metering,
): VerifyResult {
  if (
    options.projectId !== undefined &&
    principal.projectId !== null &&
    principal.projectId !== options.projectId
  )
    return refuse("project_mismatch");
  // A few scopes asked of a few dozen held: a scan beats building a Set per request.
  if (!required.every((scope) => principal.scopes.includes(scope)))
    return refuse("scope_insufficient", { required });
  return { valid: true, principal, scopes: principal.scopes, ...metering };
}
