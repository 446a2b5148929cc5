/**
 * Uses of keys' rate limits that Latchkey leased to this verifier (`lease` of
 * `POST /v1/keys/verify`): a cached hit spends one; none left, or the key's window over, and
 * the hit goes back to Latchkey. Per key id, bounded (the oldest lease is forgotten first).
 */
export class LeaseBook {
  private readonly leases = new Map<string, { left: number; until: number }>();

  constructor(private readonly capacity: number) {}

  /** Spends one leased use of the key; false when there is none (or it lapsed). */
  take(keyId: string, now: number): boolean {
    const lease = this.leases.get(keyId);
    if (!lease) return false;
    if (lease.until <= now || lease.left <= 0) {
      this.leases.delete(keyId);
      return false;
    }
    lease.left -= 1;
    return true;
  }

  /**
   * Adds `granted` uses, valid until `until` (epoch ms by this verifier's clock). Uses still
   * held were leased in the same window or an earlier one: they keep the earlier deadline.
   */
  add(keyId: string, granted: number, until: number, now: number): void {
    if (granted <= 0) return;
    const held = this.leases.get(keyId);
    this.leases.delete(keyId);
    if (held && held.until > now && held.left > 0)
      this.leases.set(keyId, { left: held.left + granted, until: Math.min(held.until, until) });
    else this.leases.set(keyId, { left: granted, until });
    while (this.leases.size > this.capacity) this.leases.delete(this.leases.keys().next().value!);
  }

  /** Uses still held for the key (lapsed ones are none). */
  left(keyId: string, now: number): number {
    const lease = this.leases.get(keyId);
    return lease && lease.until > now ? lease.left : 0;
  }

  clear(): void {
    this.leases.clear();
  }
}
