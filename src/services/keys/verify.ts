import { LatchkeyError, REFUSAL_MESSAGES } from "../../core/errors.js";
import type { Settled } from "../../core/settled.js";
import type { Deps } from "../deps.js";
import type { Principal } from "../principal.js";
import type { UsageBuffer } from "../usage/usage.js";
import { sha256 } from "../../infra/secrets.js";
import type { CachedKey } from "./cache.js";
import type { CheckResult, KeyChecker, RateLimitState } from "./check.js";
import { isIpAllowed } from "./ip-allow.js";

/** A platform service asking about a key (`POST /v1/keys/verify`). */
export interface VerifyInput {
  key: string;
  scopes?: string[] | undefined;
  project_id?: string | undefined;
  endpoint?: string | undefined;
  ip?: string | undefined;
  /** Credits this call spends (default 1), when the key has credits. */
  cost?: number | undefined;
  /** Costs of the key's (or its owner's) named limits for this call. */
  ratelimits?: { name: string; cost?: number | undefined }[] | undefined;
}

export interface KeyRequest {
  ip: string;
  /** `METHOD /route/:pattern`, as counted in usage. */
  endpoint: string;
  /** Whether the request spends the key's per-minute budget. */
  spend?: boolean;
}

export interface KeyAuthentication {
  principal: Principal;
  ratelimit: RateLimitState | null;
}

/** The refusal messages of the ERRORS table; a key that lacks scopes is named as a key. */
const MESSAGES = {
  ...REFUSAL_MESSAGES,
  scope_insufficient: "API key lacks the scopes this action needs",
} as const;

const UNSPECIFIED = "unspecified";
/** Service credentials remembered at most (a platform has a handful). */
const SERVICE_CREDENTIALS = 1000;
/** As the key cache's own belt and braces: a remembered answer is re-checked this often. */
const REMEMBER_MS = 60_000;

interface ServiceCredential {
  key: CachedKey;
  principal: Principal;
  /** When the full check answered. */
  at: number;
}

/** API keys as credentials (bearer auth) and `POST /v1/keys/verify`, with usage counted. */
export class KeyVerifier {
  /**
   * The platform services' own credentials (keys calling without spending a rate limit, i.e.
   * `POST /v1/keys/verify` and usage reports): the last good answer by key hash, so the call
   * a service makes on every request does not check its own key in full each time. Dropped
   * at once when the key or any user changes (the bus, synchronously on this instance); not
   * used with a shared limiter, where every use must compare the key's cluster-wide version.
   */
  private readonly services = new Map<string, ServiceCredential>();

  constructor(
    private readonly deps: Deps,
    private readonly checker: KeyChecker,
    readonly usage: UsageBuffer,
    /** Told of each `rate_limited` refusal (key.rate_limited, at most hourly per key). */
    private readonly onRateLimited: (key: CachedKey, limit: "key" | "named") => void = () =>
      undefined,
  ) {
    deps.bus.subscribe((event) => {
      if (event.type === "key_changed") this.services.delete(event.keyHash);
      else if (event.type === "user_changed") this.services.clear();
    });
  }

  /**
   * A principal for the key, or the spec's error (401, 403 `ip_not_allowed`, 429) as a
   * rejected promise. Answered in this turn when the check needs nothing from the store.
   */
  authenticate(rawKey: string, request: KeyRequest): Settled<KeyAuthentication> {
    const remembered = request.spend === false && !this.deps.limiter.sharesVersions;
    const hash = remembered ? sha256(rawKey) : "";
    if (remembered) {
      const known = this.services.get(hash);
      if (known && this.stillGood(known, request.ip))
        return { principal: known.principal, ratelimit: null };
    }
    const result = this.checker.check({
      rawKey,
      ip: request.ip,
      endpoint: request.endpoint,
      spend: request.spend ?? true,
    });
    return result instanceof Promise
      ? result.then((settled) => this.admit(settled, request, remembered ? hash : null))
      : this.admit(result, request, remembered ? hash : null);
  }

  /** The principal of a checked key; `hash`: remember it as a service's credential. */
  private admit(
    result: CheckResult,
    request: KeyRequest,
    hash: string | null,
  ): Settled<KeyAuthentication> {
    const { key, owner } = result;
    if (result.code !== "valid" || !key || !owner) {
      if (key) this.record(key.id, request.endpoint, key.projectId, request.ip, result.code);
      if (key && result.code === "rate_limited") this.onRateLimited(key, limitOf(result));
      return Promise.reject(refusal(result, this.deps.now()));
    }
    const principal: Principal = {
      type: "api_key",
      user: owner,
      sessionId: null,
      amr: [],
      key: {
        id: key.id,
        environment: key.environment,
        projectId: key.projectId,
        expiresAt: key.expiresAt,
      },
      scopes: result.scopes,
    };
    if (hash !== null && key.hash === hash) {
      if (this.services.size >= SERVICE_CREDENTIALS) this.services.clear();
      this.services.set(hash, { key, principal, at: this.deps.now() });
    }
    return { principal, ratelimit: result.ratelimit };
  }

  /** What a full check would still say of a remembered credential: unexpired, address allowed. */
  private stillGood({ key, at }: ServiceCredential, ip: string): boolean {
    const now = this.deps.now();
    if (key.expiresAt !== null && key.expiresAt <= now) return false;
    if (now - at >= REMEMBER_MS) return false;
    return key.ipAllow === null || isIpAllowed(key.ipAllow, ip);
  }

  /**
   * For the platform's services: always an answer, never a throw. `verifiedBy` (the caller's
   * key or user id) goes into the verified key's activity, so its owner sees who asked.
   * `answer` presents the result (the wire layer's mapper), called once, in this same turn.
   */
  verify<R>(body: VerifyInput, verifiedBy: string, answer: (result: CheckResult) => R): Settled<R> {
    const endpoint = body.endpoint?.trim() ?? UNSPECIFIED;
    const result = this.checker.check({
      rawKey: body.key,
      ip: body.ip ?? null,
      endpoint,
      projectId: body.project_id,
      scopes: body.scopes,
      spend: true,
      meter: body,
    });
    return result instanceof Promise
      ? result.then((settled) => this.answer(settled, body, endpoint, verifiedBy, answer))
      : this.answer(result, body, endpoint, verifiedBy, answer);
  }

  private answer<R>(
    result: CheckResult,
    body: VerifyInput,
    endpoint: string,
    verifiedBy: string,
    answer: (result: CheckResult) => R,
  ): R {
    const { key } = result;
    if (key) {
      const project = body.project_id ?? key.projectId;
      this.record(key.id, endpoint, project, body.ip ?? null, result.code, verifiedBy);
      if (result.code === "rate_limited") this.onRateLimited(key, limitOf(result));
    }
    return answer(result);
  }

  /** Counts one call (buffered; written within `usageFlushMs`). */
  record(
    keyId: string,
    endpoint: string,
    projectId: string | null,
    ip: string | null,
    outcome: string,
    verifiedBy: string | null = null,
  ): void {
    this.usage.record({ keyId, at: this.deps.now(), endpoint, projectId, ip, outcome, verifiedBy });
  }
}

function refusal(result: CheckResult, now: number): LatchkeyError {
  const code = result.code === "valid" ? "key_invalid" : result.code;
  if (code === "rate_limited") {
    const reset = result.ratelimit?.reset ?? 0;
    const retryAfter = Math.max(1, Math.ceil((reset - now) / 1000));
    return new LatchkeyError(code, MESSAGES.rate_limited, { retry_after: retryAfter }, retryAfter);
  }
  if (code === "scope_insufficient")
    return new LatchkeyError(code, MESSAGES.scope_insufficient, { required: result.missing });
  return new LatchkeyError(code, MESSAGES[code]);
}

/** Which limit refused: the key's own per-minute limit, or one of its named limits. */
function limitOf(result: CheckResult): "key" | "named" {
  return result.ratelimit !== null && result.ratelimit.remaining === 0 && result.ratelimits === null
    ? "key"
    : "named";
}
