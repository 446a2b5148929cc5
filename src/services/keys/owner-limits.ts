import { LatchkeyError } from "../../core/errors.js";
import type { OwnerLimitRow } from "../../store/port.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import { toStoredLimits } from "./budget.js";
import type { NamedLimitInput } from "./model.js";

/**
 * Named rate limits set on an owner (issue 20), shared by every key of the owner: two keys
 * of one customer spend one budget. Staff set them at runtime. The owner is a user today;
 * nothing here depends on that but the existence check, so an organization can own limits
 * once organizations exist.
 */
export class OwnerLimits {
  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
  ) {}

  async list(ownerId: string): Promise<OwnerLimitRow[]> {
    await this.exists(ownerId);
    return this.deps.store.ownerLimits.of(ownerId);
  }

  /** Replaces the owner's limits; from the moment this returns, every instance applies them. */
  async set(
    ownerId: string,
    limits: readonly NamedLimitInput[],
    by: { userId: string; actor: string | null; ip: string | null },
  ): Promise<OwnerLimitRow[]> {
    await this.exists(ownerId);
    const now = this.deps.now();
    const rows = toStoredLimits(limits).map((l): OwnerLimitRow => ({
      owner_id: ownerId,
      ...l,
      updated_at: now,
    }));
    await this.deps.store.ownerLimits.replace(ownerId, rows);
    // Each cached key carries its owner's limits: every key of the owner is re-read.
    const { limiter, bus } = this.deps;
    for (const key of await this.deps.store.keys.listByOwner(ownerId)) {
      if (limiter.sharesVersions) await limiter.bumpVersion(key.key_hash);
      await bus.publish({
        type: "key_changed",
        keyId: key.id,
        keyHash: key.key_hash,
        revoked: false,
      });
    }
    await this.audit.record({
      event: "owner_limits_set",
      userId: ownerId,
      actor: by.actor,
      ip: by.ip,
      details: { owner_id: ownerId, by: by.userId, ratelimits: limits },
    });
    return this.deps.store.ownerLimits.of(ownerId);
  }

  private async exists(ownerId: string): Promise<void> {
    if (!(await this.deps.store.users.byId(ownerId)))
      throw new LatchkeyError("not_found", "owner not found");
  }
}
