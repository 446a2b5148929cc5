/** A key's lifecycle state at `now` (epoch ms): revoked wins over expired. */
export type KeyStatus = "active" | "revoked" | "expired";

export function keyStatus(
  key: { revoked_at: number | null; expires_at: number | null },
  now: number,
): KeyStatus {
  if (key.revoked_at !== null && key.revoked_at <= now) return "revoked";
  if (key.expires_at !== null && key.expires_at <= now) return "expired";
  return "active";
}

/** Epoch milliseconds as the wire's ISO 8601 string; null stays null. */
export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
