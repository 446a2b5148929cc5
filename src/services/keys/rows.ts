import { parseDuration } from "../../core/durations.js";
import { LatchkeyError } from "../../core/errors.js";
import { displayPrefix, formatKey, type Environment } from "../../core/key-format.js";
import { newId } from "../../infra/ids.js";
import type { Random } from "../../infra/random.js";
import { sha256 } from "../../infra/secrets.js";
import { parseIpAllow } from "./ip-allow.js";
import type { ApiKey, NewKeyInput } from "./model.js";
import { NO_LIMITS, type LimitColumns } from "./budget.js";

export function badField(field: string, message: string): LatchkeyError {
  return new LatchkeyError("invalid_request", `${field}: ${message}`, {
    details: [{ field, message }],
  });
}

export function expiryOf(
  input: Pick<NewKeyInput, "expires_in" | "expires_at">,
  now: number,
): number | null {
  if (input.expires_in !== undefined) {
    const ms = parseDuration(input.expires_in);
    if (ms === null) throw badField("expires_in", "not a duration such as 30d, 90d, 24h, 1y");
    return now + ms;
  }
  if (input.expires_at !== undefined) {
    const at = Date.parse(input.expires_at);
    if (!(at > now)) throw badField("expires_at", "must be in the future");
    return at;
  }
  return null;
}

export function compileIpAllow(entries: string[]): string[] {
  const parsed = parseIpAllow(entries);
  if (Array.isArray(parsed))
    throw new LatchkeyError("invalid_request", "ip_allow has entries that are not CIDR ranges", {
      details: parsed.map((p) => ({ field: `ip_allow.${p.index}`, message: p.message })),
    });
  return parsed.ranges;
}

export function newKeyRow(
  random: Random,
  input: {
    ownerId: string;
    name: string;
    environment: Environment;
    grants: string[];
    projectId: string | null;
    ipAllow: string[] | null;
    expiresAt: number | null;
    now: number;
    brand: string;
    rotatedFrom: string | null;
    /** The key that minted this one; null when a signed-in user did. */
    parentKeyId: string | null;
    description: string | null;
    /** The owner's metadata, as stored (JSON text). */
    meta: string | null;
    /** Credits and named limits (pool null: the new key's own id). */
    limits?: LimitColumns;
    /** An organization's key: the member who minted it. */
    createdBy?: string | null;
  },
): { key: string; row: ApiKey } {
  const key = formatKey(input.brand, input.environment, random.bytes(32));
  const id = newId(random, "key");
  const limits = input.limits ?? NO_LIMITS;
  const row: ApiKey = {
    id,
    owner_id: input.ownerId,
    name: input.name,
    prefix: displayPrefix(key),
    key_hash: sha256(key),
    environment: input.environment,
    scopes: JSON.stringify(input.grants),
    project_id: input.projectId,
    ip_allow: input.ipAllow ? JSON.stringify(input.ipAllow) : null,
    created_at: input.now,
    expires_at: input.expiresAt,
    revoked_at: null,
    last_used_at: null,
    usage_count: 0,
    rotated_from: input.rotatedFrom,
    parent_key_id: input.parentKeyId,
    description: input.description,
    meta: input.meta,
    disabled_at: null,
    leaked_at: null,
    leak_source: null,
    created_by: input.createdBy ?? null,
    ...limits,
    credits_pool: limits.credits_remaining === null ? null : (limits.credits_pool ?? id),
  };
  return { key, row };
}
