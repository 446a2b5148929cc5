import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { ERRORS, type ErrorCode } from "../core/errors.js";

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
}

/** Who is calling, as Latchkey vouches for it. */
export interface Principal {
  type: "session" | "api_key";
  userId: string;
  sessionId: string | null;
  keyId: string | null;
  environment: "live" | "test" | null;
  projectId: string | null;
  /** Effective scopes: a key's scopes ∩ its owner's current access; a session's: the user's access. */
  scopes: string[];
  amr: string[];
}

export type VerifyResult =
  | { valid: true; principal: Principal; scopes: string[] }
  | {
      valid: false;
      code: ErrorCode;
      /** The HTTP status to answer with (503 when Latchkey cannot be asked). */
      status: number;
      message: string;
      required?: string[];
      retryAfter?: number;
    };

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  unauthenticated: "a bearer credential is required",
  key_invalid: "API key is not valid",
  key_revoked: "API key has been revoked",
  key_expired: "API key has expired",
  token_invalid: "access token is not valid",
  token_expired: "access token has expired",
  scope_insufficient: "the credential lacks a scope this route needs",
  project_mismatch: "API key is bound to another project",
  ip_not_allowed: "API key may not be used from this address",
  rate_limited: "API key has exceeded its rate limit",
};

export function refuse(
  code: ErrorCode,
  extras: { required?: string[]; retryAfter?: number; message?: string; status?: number } = {},
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

export function looksLikeJwt(token: string): boolean {
  return token.startsWith("eyJ") && token.split(".").length === 3;
}

/** An address Latchkey can check (`::ffff:1.2.3.4` as `1.2.3.4`), or nothing. */
export function cleanIp(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const plain = ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  return isIP(plain) ? plain : undefined;
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
