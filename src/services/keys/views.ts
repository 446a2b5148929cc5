import type { StoredActivity, UsageSummary } from "../../store/port.js";
import type { Deps } from "../deps.js";

const HOUR = 3_600_000;
/** Hourly usage shown in key details: the last seven days. */
const BY_HOUR_SPAN_MS = 7 * 24 * HOUR;

export type { StoredActivity as KeyActivityEntry, UsageSummary as KeyUsage };

/** What a key's details show beyond the key itself: its usage and its activity. */
export class KeyViews {
  constructor(private readonly deps: Deps) {}

  /** Calls by endpoint and by project (all time), and by hour (last seven days). */
  usage(keyId: string): Promise<UsageSummary> {
    const since = Math.floor((this.deps.now() - BY_HOUR_SPAN_MS) / HOUR) * HOUR;
    return this.deps.store.usage.summary(keyId, since);
  }

  /** Newest first; `before` pages by activity id. */
  activity(
    keyId: string,
    options: { limit: number; before?: number | undefined },
  ): Promise<StoredActivity[]> {
    return this.deps.store.usage.activity(keyId, options);
  }

  /** Calls counted but never written as activity rows (sampled away under a flood). */
  sampled(keyId: string): Promise<number> {
    return this.deps.store.usage.sampled(keyId);
  }
}
