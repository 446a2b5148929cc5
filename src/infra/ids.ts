import type { Random } from "./random.js";

/** Opaque ids with a readable type prefix, e.g. `usr_3kT9…`. */
export function newId(
  random: Random,
  prefix:
    "usr" | "ses" | "key" | "prj" | "bkc" | "msg" | "pk" | "whe" | "whd" | "evt" | "org" | "inv",
): string {
  return `${prefix}_${random.bytes(12).toString("base64url")}`;
}

/** A high-entropy opaque secret (refresh and MFA tokens), url-safe. */
export function newSecret(random: Random, prefix: string): string {
  return `${prefix}_${random.bytes(32).toString("base64url")}`;
}
