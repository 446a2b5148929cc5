import { isIP } from "node:net";
import { ERRORS, REFUSAL_MESSAGES, type ErrorCode } from "../core/errors.js";

/** What a verdict depends on besides the credential. */
export interface VerifyOptions {
  /** Scopes the route needs; all of them must be among the principal's effective scopes. */
  scopes?: readonly string[];
  /** The project the call is for; a key bound to another project is refused. */
  projectId?: string;
  /** `METHOD /route`, recorded in the key's usage and activity log. */
  endpoint?: string;
  /** The caller's address, checked against the key's `ip_allow`. */
  ip?: string;
  /** Usage credits this call spends, for a key with credits (default 1). */
  cost?: number;
  /** Costs of named rate limits for this call; every limit of the key and its owner applies. */
  ratelimits?: readonly { name: string; cost?: number }[];
}

/** A named rate limit after a call (issue 20); `scope: "owner"` is shared by the owner's keys. */
export interface NamedLimitState {
  name: string;
  scope: "key" | "owner";
  limit: number;
  remaining: number;
  /** Epoch milliseconds when the current window ends. */
  reset: number;
}

/** What a metered key (credits or named limits) has left after the call. */
export interface Metering {
  /** Usage credits left; null when the key has none (and for sessions). */
  remaining: number | null;
  /** Empty when the key and its owner have no named limits. */
  ratelimits: NamedLimitState[];
}

/** Who is calling, as Latchkey vouches for it. */
export interface Principal {
  type: "session" | "api_key";
  /** The owner: the person, or for an organization's key the organization (then `orgId` too). */
  userId: string;
  /** The organization that owns the key (issue 16); null for a person's key and for sessions. */
  orgId: string | null;
  sessionId: string | null;
  keyId: string | null;
  environment: "live" | "test" | null;
  projectId: string | null;
  /** Effective scopes: a key's scopes ∩ its owner's current access; a session's: the user's access. */
  scopes: string[];
  amr: string[];
  /** An API key's metadata as its owner set it (null for sessions and keys without any). */
  meta: Readonly<Record<string, unknown>> | null;
  /**
   * A session's `auth_time` (epoch ms): when the person last signed in or reauthenticated,
   * for a service's own step-up rule. Null for an API key.
   */
  authTime: number | null;
  /**
   * Set for a token exchanged for an API key (`POST /v1/keys/exchange`), verified offline:
   * `keyId` is its key, `scopes` the token's (within the key's when it was exchanged).
   */
  exchanged?: true;
}

export type VerifyResult =
  | ({ valid: true; principal: Principal; scopes: string[] } & Metering)
  | {
      valid: false;
      /** For `usage_exceeded` and `rate_limited` of a metered key: what it has left. */
      remaining?: number | null;
      ratelimits?: NamedLimitState[];
      code: ErrorCode;
      /** The HTTP status to answer with (503 when Latchkey cannot be asked). */
      status: number;
      message: string;
      required?: string[];
      retryAfter?: number;
    };

const MESSAGES: Partial<Record<ErrorCode, string>> = REFUSAL_MESSAGES;

export function refuse(
  code: ErrorCode,
  extras: {
    required?: string[];
    retryAfter?: number;
    message?: string;
    status?: number;
    remaining?: number | null;
    ratelimits?: NamedLimitState[];
  } = {},
): VerifyResult {
  const { message, status, ...rest } = extras;
  return {
    valid: false,
    code,
    status: status ?? ERRORS[code].status,
    message: message ?? MESSAGES[code] ?? code,
    ...rest,
  };
}

export function unavailable(why: string): VerifyResult {
  return refuse("internal", { status: 503, message: `cannot verify the credential: ${why}` });
}

/** An address Latchkey can check (`::ffff:1.2.3.4` as `1.2.3.4`), or nothing. */
export function cleanIp(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const plain = ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  return isIP(plain) ? plain : undefined;
}
