import { ADMIN_SCOPE, type ScopeCatalogue } from "./scopes.js";

/** SPEC §9: sensitive actions need an authentication under 10 minutes old by default. */
export const DEFAULT_STEP_UP_MAX_AGE_MS = 10 * 60_000;

/**
 * Whether an authentication at `authTime` (epoch ms) is recent enough at `now`: strictly
 * under `maxAgeMs` old. An authentication from the future (clock skew between instances)
 * counts as recent; a missing one never does.
 */
export function isRecentAuthentication(
  authTime: number | undefined,
  now: number,
  maxAgeMs: number,
): boolean {
  if (authTime === undefined || !Number.isFinite(authTime)) return false;
  return now - authTime < maxAgeMs;
}

/**
 * Whether a key is one whose minting needs step-up: a live key that holds `admin:*` or any
 * `*:write` scope. "Holds" is what its grants could ever reach (a `*` or `resource:*` grant
 * follows the owner's access as it grows), not only what the owner may do today.
 */
export function isPrivilegedKey(
  catalogue: ScopeCatalogue,
  environment: "live" | "test",
  grants: readonly string[],
): boolean {
  if (environment !== "live") return false;
  const everything = new Set([...catalogue.scopes, ADMIN_SCOPE]);
  for (const scope of catalogue.expand(grants, everything))
    if (scope === ADMIN_SCOPE || scope.endsWith(":write")) return true;
  return false;
}
