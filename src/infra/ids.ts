import { randomBytes } from "node:crypto";

/** Opaque ids with a readable type prefix, e.g. `usr_3kT9…`. */
export function newId(prefix: "usr" | "ses" | "key" | "prj" | "bkc"): string {
  return `${prefix}_${randomBytes(12).toString("base64url")}`;
}

/** A high-entropy opaque secret (refresh and MFA tokens), url-safe. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString("base64url")}`;
}
