/**
 * Work that must happen once across a cluster, on a timer: the `key.expiring` notices (7 days
 * and 1 day before) and `key.expired`, and pruning the delivery log. Each tick runs under
 * `store.exclusive` (a PostgreSQL advisory lock; on SQLite this process, the only one on its
 * file), so instances take turns rather than all scanning; each event also carries a
 * `dedup_key`, so even two overlapping runs send it once. It also forgets month-old sign-in
 * failure counts. (Deliveries and their retries are
 * claimed per delivery, `FOR UPDATE SKIP LOCKED`, by whichever instance's sender is free.)
 */
import type { ExpiringKeyRow } from "../../store/port.js";
import type { WebhookEventType } from "../../core/webhook-events.js";
import { SUSPEND_AFTER } from "../accounts/login-throttle.js";
import type { Deps } from "../deps.js";
import type { WebhookEvents } from "./events.js";

const DAY_MS = 86_400_000;
/** Keys that expired while no instance ran are still told, this far back. */
const EXPIRED_LOOKBACK_MS = 7 * DAY_MS;
const BATCH = 500;
const LOCK = "latchkey:scheduler";
/** How long a sign-in failure count is kept after its last failure. */
export const LOGIN_FAILURES_KEPT_MS = 30 * DAY_MS;

interface Notice {
  type: WebhookEventType;
  label: string;
  from: number;
  to: number;
}

export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly deps: Deps,
    private readonly events: WebhookEvents,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.deps.config.schedulerMs);
    this.timer.unref();
    void this.tick();
  }

  /**
   * One run of every task, if no other instance is running them: how many events it
   * published, or null when another instance held the turn.
   */
  async tick(): Promise<number | null> {
    if (this.running) return null;
    const run = this.deps.store.exclusive(LOCK, async () => {
      const published = await this.expiryNotices();
      await this.pruneLoginFailures();
      return published;
    });
    this.running = run;
    try {
      return (await run) ?? null;
    } catch (error) {
      this.deps.logger.warn({ err: (error as Error).message }, "scheduler run failed");
      return 0;
    } finally {
      this.running = null;
    }
  }

  /**
   * Sign-in failure counts (login-throttle.ts) whose last failure is a month old go, so
   * unknown emails sprayed at the sign-in do not pile up; a suspended account's count stays.
   */
  private async pruneLoginFailures(): Promise<void> {
    const before = this.deps.now() - LOGIN_FAILURES_KEPT_MS;
    const pruned = await this.deps.store.loginFailures.prune(before, SUSPEND_AFTER);
    if (pruned > 0) this.deps.logger.info({ pruned }, "pruned old sign-in failure counts");
  }

  private async expiryNotices(): Promise<number> {
    const now = this.deps.now();
    const notices: Notice[] = [
      { type: "key.expiring", label: "7d", from: now + DAY_MS, to: now + 7 * DAY_MS },
      { type: "key.expiring", label: "1d", from: now, to: now + DAY_MS },
      { type: "key.expired", label: "expired", from: now - EXPIRED_LOOKBACK_MS, to: now },
    ];
    let published = 0;
    for (const notice of notices) {
      const keys = await this.deps.store.webhooks.expiringKeys(notice.from, notice.to, BATCH);
      const dedup = (key: ExpiringKeyRow) =>
        `${notice.type}:${notice.label}:${key.id}:${key.expires_at}`;
      const seen = await this.deps.store.webhooks.seenDedupKeys(keys.map(dedup));
      for (const key of keys) {
        if (seen.has(dedup(key))) continue;
        const data: Record<string, unknown> = {
          user_id: key.owner_id,
          key_id: key.id,
          name: key.name,
          prefix: key.prefix,
          environment: key.environment,
          expires_at: new Date(key.expires_at).toISOString(),
        };
        if (notice.type === "key.expiring") data.notice = notice.label;
        const event = await this.deps.store.transaction((tx) =>
          this.events.publish(tx, key.owner_id, notice.type, data, { dedupKey: dedup(key) }),
        );
        if (event) published += 1;
      }
    }
    if (published > 0) this.events.committed();
    return published;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.running) await this.running.catch(() => undefined);
  }
}
