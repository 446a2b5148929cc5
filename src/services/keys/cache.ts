import type { OwnerLimitRow } from "../../store/port.js";
import type { Deps } from "../deps.js";
import { budgetOf, type KeyBudget } from "./budget.js";
import { parseIpAllow, type IpAllow } from "./ip-allow.js";
import type { ApiKey } from "./model.js";

/** What the hot path needs of a key row, parsed once. */
export interface CachedKey {
  id: string;
  ownerId: string;
  hash: string;
  environment: "live" | "test";
  /** Grants as stored (may hold `resource:*` and `*`); narrowed by the owner's access at each use. */
  grants: string[];
  projectId: string | null;
  ipAllow: IpAllow | null;
  expiresAt: number | null;
  revokedAt: number | null;
  /** Shared change version seen when this row was read (cluster mode); null when unknown. */
  version: string | null;
  loadedAt: number;
  /** For an organization's key: the organization (its owner, issue 16); null for a person's. */
  orgId: string | null;
  /** For an organization's key: the member who minted it; null otherwise. */
  createdBy: string | null;
  /**
   * Effective scopes memoised per access object (Users replaces the owner's on every change;
   * an organization's key's universe is its creator's share of it, services/orgs/access.ts).
   */
  memo: { access: ReadonlySet<string>; scopes: ReadonlySet<string> } | null;
  /** The name of its rate-limit window in the limiter, made once (keys/check.ts). */
  window: string | null;
  /** When its owner disabled it; null while enabled. */
  disabledAt: number | null;
  /** Reported leaked: while also disabled (quarantined), refused as `key_leaked`. */
  leakedAt: number | null;
  /** The owner's metadata, parsed once per cached row; shared read-only by every answer. */
  meta: Readonly<Record<string, unknown>> | null;
  /** Credits and named limits (its own and its owner's); null when it has none. */
  budget: KeyBudget | null;
}

const CACHE_LIMIT = 100_000;
const NEGATIVE_LIMIT = 10_000;
// Unknown hashes are remembered briefly so a client retrying a dead key doesn't hit the
// database each time; creation clears the entry anyway (bus `key_changed`).
const NEGATIVE_TTL_MS = 10_000;
// Belt and braces: even if an invalidation were lost, a row is re-read this often.
const POSITIVE_TTL_MS = 5 * 60_000;

export function toCachedKey(
  row: ApiKey,
  version: string | null,
  now: number,
  ownerLimits: readonly OwnerLimitRow[] = [],
): CachedKey {
  const ipAllow = row.ip_allow ? parseIpAllow(JSON.parse(row.ip_allow) as string[]) : null;
  return {
    id: row.id,
    ownerId: row.owner_id,
    hash: row.key_hash,
    environment: row.environment === "test" ? "test" : "live",
    grants: JSON.parse(row.scopes) as string[],
    projectId: row.project_id,
    // A stored list that no longer parses denies every address rather than none.
    ipAllow: Array.isArray(ipAllow) ? emptyAllow() : ipAllow,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    disabledAt: row.disabled_at,
    leakedAt: row.leaked_at,
    version,
    loadedAt: now,
    orgId: row.owner_id.startsWith("org_") ? row.owner_id : null,
    createdBy: row.created_by ?? null,
    memo: null,
    window: null,
    meta: row.meta === null ? null : (JSON.parse(row.meta) as Record<string, unknown>),
    budget: budgetOf(row, ownerLimits),
  };
}

function emptyAllow(): IpAllow {
  return parseIpAllow([]) as IpAllow;
}

/**
 * Key rows by SHA-256, for the verification hot path. Entries are dropped when the bus
 * says a key changed (revoke, edit, rotate, create), synchronously for this instance.
 * A generation counter stops a lookup that raced an invalidation from caching what it read.
 */
export class KeyCache {
  private readonly entries = new Map<string, CachedKey>();
  private readonly negative = new Map<string, number>();
  private readonly pending = new Map<string, Promise<CachedKey | null>>();
  private generation = 0;

  constructor(private readonly deps: Deps) {
    deps.bus.subscribe((event) => {
      if (event.type === "key_changed") this.invalidate(event.keyHash);
    });
  }

  invalidate(hash: string): void {
    this.generation += 1;
    this.entries.delete(hash);
    this.negative.delete(hash);
    this.pending.delete(hash);
  }

  /** A cached row, or null when it must be (re)loaded. `undefined` marks a fresh miss. */
  peek(hash: string): CachedKey | null | undefined {
    const now = this.deps.now();
    const hit = this.entries.get(hash);
    if (hit) {
      if (now - hit.loadedAt < POSITIVE_TTL_MS) return hit;
      this.entries.delete(hash);
      return undefined;
    }
    const deadUntil = this.negative.get(hash);
    if (deadUntil !== undefined) {
      if (deadUntil > now) return null;
      this.negative.delete(hash);
    }
    return undefined;
  }

  /** Reads the row (one query per hash however many requests miss at once) and caches it. */
  load(
    hash: string,
    version: string | null = null,
    options: { shared?: boolean } = {},
  ): Promise<CachedKey | null> {
    const inFlight = this.pending.get(hash);
    // Safe to share: the version travels with the first reader, read before its query.
    // A re-read after a change must not share a read that began before the change.
    if (inFlight && options.shared !== false) return inFlight;
    const generation = this.generation;
    const promise = this.read(hash, version).then((entry) => {
      if (this.pending.get(hash) === promise) this.pending.delete(hash);
      if (generation === this.generation) this.store(hash, entry);
      return entry;
    });
    this.pending.set(hash, promise);
    promise.catch(() => this.pending.delete(hash));
    return promise;
  }

  private async read(hash: string, version: string | null): Promise<CachedKey | null> {
    const row = await this.deps.store.keys.byHash(hash);
    if (!row) return null;
    // Owner limits travel with each cached key; changing them invalidates the owner's keys.
    const ownerLimits = await this.deps.store.ownerLimits.of(row.owner_id);
    return toCachedKey(row, version, this.deps.now(), ownerLimits);
  }

  private store(hash: string, entry: CachedKey | null): void {
    if (entry) {
      if (this.entries.size >= CACHE_LIMIT) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(hash, entry);
    } else {
      if (this.negative.size >= NEGATIVE_LIMIT)
        this.negative.delete(this.negative.keys().next().value!);
      this.negative.set(hash, this.deps.now() + NEGATIVE_TTL_MS);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
