import { LatchkeyError, REFUSAL_MESSAGES } from "../../core/errors.js";
import type { Deps } from "../deps.js";
import type { Principal } from "../principal.js";
import type { UsageBuffer } from "../usage/usage.js";
import type { CheckResult, KeyChecker, RateLimitState } from "./check.js";

/** A platform service asking about a key (`POST /v1/keys/verify`). */
export interface VerifyInput {
  key: string;
  scopes?: string[] | undefined;
  project_id?: string | undefined;
  endpoint?: string | undefined;
  ip?: string | undefined;
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

/** API keys as credentials (bearer auth) and `POST /v1/keys/verify`, with usage counted. */
export class KeyVerifier {
  constructor(
    private readonly deps: Deps,
    private readonly checker: KeyChecker,
    readonly usage: UsageBuffer,
  ) {}

  /** A principal for the key, or the spec's error (401, 403 `ip_not_allowed`, 429). */
  async authenticate(rawKey: string, request: KeyRequest): Promise<KeyAuthentication> {
    const result = await this.checker.check({
      rawKey,
      ip: request.ip,
      endpoint: request.endpoint,
      spend: request.spend ?? true,
    });
    const { key, owner } = result;
    if (result.code !== "valid" || !key || !owner) {
      if (key) this.record(key.id, request.endpoint, key.projectId, request.ip, result.code);
      throw refusal(result, this.deps.now());
    }
    return {
      principal: {
        type: "api_key",
        user: owner,
        sessionId: null,
        amr: [],
        key: { id: key.id, environment: key.environment, projectId: key.projectId },
        scopes: result.scopes,
      },
      ratelimit: result.ratelimit,
    };
  }

  /**
   * For the platform's services: always an answer, never a throw. `verifiedBy` (the caller's
   * key or user id) goes into the verified key's activity, so its owner sees who asked.
   * `answer` presents the result (the wire layer's mapper), called once, in this same turn.
   */
  async verify<R>(
    body: VerifyInput,
    verifiedBy: string,
    answer: (result: CheckResult) => R,
  ): Promise<R> {
    const endpoint = body.endpoint?.trim() ?? UNSPECIFIED;
    const result = await this.checker.check({
      rawKey: body.key,
      ip: body.ip ?? null,
      endpoint,
      projectId: body.project_id,
      scopes: body.scopes,
      spend: true,
    });
    const { key } = result;
    if (key) {
      const project = body.project_id ?? key.projectId;
      this.record(key.id, endpoint, project, body.ip ?? null, result.code, verifiedBy);
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
