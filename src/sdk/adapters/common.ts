import { randomBytes } from "node:crypto";
import type { VerifyResult } from "../verifier.js";

/** Everything an adapter needs to answer a refusal in the spec's error shape (SPEC §5). */
export interface Denial {
  status: number;
  headers: Record<string, string>;
  body: {
    error: {
      code: string;
      message: string;
      request_id: string;
      required?: string[];
      retry_after?: number;
    };
  };
}

const REQUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** The caller's `x-request-id` when it is sane, else a fresh one. */
export function requestIdFrom(header: string | string[] | null | undefined): string {
  if (typeof header === "string" && REQUEST_ID.test(header)) return header;
  return `req_${randomBytes(9).toString("base64url")}`;
}

/**
 * The bearer credential of an `Authorization` header: null when there is none,
 * `""` when the header is there but malformed (refused as `unauthenticated`).
 */
export function bearerFrom(header: string | string[] | null | undefined): string | null {
  if (typeof header !== "string") return null;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match ? match[1]! : "";
}

export function denial(result: Extract<VerifyResult, { valid: false }>, requestId: string): Denial {
  const headers: Record<string, string> = { "x-request-id": requestId };
  if (result.status === 401)
    headers["www-authenticate"] =
      `Bearer error="${result.code === "unauthenticated" ? "invalid_request" : "invalid_token"}"`;
  if (result.code === "scope_insufficient" && result.required)
    headers["www-authenticate"] =
      `Bearer error="insufficient_scope", scope="${result.required.join(" ")}"`;
  if (result.retryAfter !== undefined) headers["retry-after"] = String(result.retryAfter);
  const error: Denial["body"]["error"] = {
    code: result.code,
    message: result.message,
    request_id: requestId,
  };
  if (result.required) error.required = result.required;
  if (result.retryAfter !== undefined) error.retry_after = result.retryAfter;
  return { status: result.status, headers, body: { error } };
}
