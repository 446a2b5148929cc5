import { actorOf } from "../../core/actor.js";
import { periodStart, type Balance } from "../../core/credits.js";
import type { Settled } from "../../core/settled.js";
import type { MeterAnswer, MeterAsk, MeterLimit } from "../../infra/meter.js";
import type { CreditsWriteBack } from "../../store/port.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import {
  creditsCounter,
  refillOf,
  storedBalance,
  type KeyBudget,
  type LimitScope,
} from "./budget.js";
import type { CachedKey } from "./cache.js";
import type { ApiKey } from "./model.js";

/** What a verification asks to spend (the verify body's own fields, passed as they came). */
export interface MeterInput {
  /** Credits this call spends; default 1. */
  cost?: number | undefined;
  /** Costs for named limits; a limit not named spends its own `cost`. */
  ratelimits?: readonly { name: string; cost?: number | undefined }[] | undefined;
}

export interface NamedLimitState {
  name: string;
  scope: LimitScope;
  limit: number;
  remaining: number;
  /** Epoch milliseconds when the current fixed window ends. */
  reset: number;
}

export interface Metered {
  outcome: MeterAnswer["outcome"];
  /** The credits left; null when the key has none. */
  remaining: number | null;
  ratelimits: NamedLimitState[];
}

interface Dirty {
  pool: string;
  gen: number;
  counter: string;
}

/**
 * Usage credits and named rate limits at verification (issue 20): the meter (in memory, or
 * Redis for every instance) checks and spends them in one step, so racing calls never spend
 * past a balance or a limit. The database is never written per call: balances a call
 * touched are written back every `usageFlushMs` (and on shutdown), and are the counters'
 * seed when a counter holds nothing (a new instance's memory, a Redis that lost it).
 */
export class KeyMetering {
  private readonly dirty = new Map<string, Dirty>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private readonly audits = new Set<Promise<void>>();

  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
  ) {
    this.timer = setInterval(() => void this.flush(), deps.config.usageFlushMs);
    this.timer.unref();
  }

  spend(key: CachedKey, budget: KeyBudget, input: MeterInput, now: number): Settled<Metered> {
    const { credits } = budget;
    const cost = input.cost ?? 1;
    const ask: MeterAsk = {
      now,
      credits: credits
        ? {
            counter: credits.counter,
            cost,
            seed: credits.seed,
            refill: credits.refill?.amount ?? null,
            period: credits.refill ? periodStart(credits.refill.interval, now) : 0,
          }
        : null,
      limits: input.ratelimits ? withCosts(budget, input.ratelimits) : budget.limits,
    };
    const answer = this.deps.limiter.meter.spend(ask);
    if (answer instanceof Promise)
      return answer.then((settled) => this.answered(key, budget, ask, settled));
    return this.answered(key, budget, ask, answer);
  }

  private answered(key: CachedKey, budget: KeyBudget, ask: MeterAsk, answer: MeterAnswer) {
    const { credits } = budget;
    if (credits && ask.credits && answer.outcome === "ok" && ask.credits.cost > 0) {
      if (!this.dirty.has(credits.counter))
        this.dirty.set(credits.counter, {
          pool: credits.pool,
          gen: credits.gen,
          counter: credits.counter,
        });
      const threshold = this.deps.config.creditsLowThreshold;
      const after = answer.remaining!;
      // The meter spends atomically: exactly one call sees the balance cross the threshold.
      if (after <= threshold && after + ask.credits.cost > threshold)
        this.creditsLow(key, after, threshold);
    }
    const ratelimits = ask.limits.map((limit, i): NamedLimitState => {
      const named = budget.limits[i]!;
      return {
        name: named.name,
        scope: named.scope,
        limit: limit.limit,
        remaining: Math.max(0, Math.floor(limit.limit - answer.used[i]!)),
        reset: (Math.floor(ask.now / limit.windowMs) + 1) * limit.windowMs,
      };
    });
    return { outcome: answer.outcome, remaining: answer.remaining, ratelimits };
  }

  /**
   * The one place a key's credits running low is announced: the audit log now, and the
   * `key.credits_low` webhook once webhooks exist (publish it from here).
   */
  private creditsLow(key: CachedKey, remaining: number, threshold: number): void {
    const write = this.audit
      .record({
        event: "key_credits_low",
        userId: key.ownerId,
        actor: actorOf({ keyId: key.id }),
        ip: null,
        details: { key_id: key.id, remaining, threshold },
      })
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: (error as Error).message }, "audit write failed"),
      )
      .finally(() => this.audits.delete(write));
    this.audits.add(write);
  }

  /** The key's balance now: its live counter's, else the stored one (refill applied). */
  async balance(row: ApiKey): Promise<Balance | null> {
    const stored = storedBalance(row, this.deps.now());
    if (stored === null) return null;
    const [live] = await this.deps.limiter.meter.balances([
      creditsCounter(row.credits_pool ?? row.id, Number(row.credits_gen)),
    ]);
    if (!live) return stored;
    const refill = refillOf(row);
    if (refill && periodStart(refill.interval, this.deps.now()) > live.period)
      return { remaining: refill.amount, period: periodStart(refill.interval, this.deps.now()) };
    return live;
  }

  /** Writes back the balances spent since the last flush; flushes never overlap. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.dirty.size === 0) return;
    const batch = [...this.dirty.values()];
    this.dirty.clear();
    try {
      const live = await this.deps.limiter.meter.balances(batch.map((d) => d.counter));
      const rows: CreditsWriteBack[] = [];
      batch.forEach(({ pool, gen }, i) => {
        const balance = live[i];
        if (balance) rows.push({ pool, gen, remaining: balance.remaining, period: balance.period });
      });
      // One statement per chunk, whatever the number of keys (the usage store; off the event loop on SQLite).
      await this.deps.store.usage.writeCredits(rows);
    } catch (error) {
      this.deps.logger.warn(
        { err: (error as Error).message },
        "credit write-back failed; will retry",
      );
      for (const entry of batch)
        if (!this.dirty.has(entry.counter)) this.dirty.set(entry.counter, entry);
    }
  }

  /** Stops the timer, writes back what is left and waits for audits (before the store closes). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    await Promise.all([...this.audits]);
  }
}

/** The budget's limits with the costs a verification named (a limit not named keeps its own). */
function withCosts(budget: KeyBudget, asked: NonNullable<MeterInput["ratelimits"]>): MeterLimit[] {
  return budget.limits.map((limit) => {
    const named = asked.find((a) => a.name === limit.name);
    return named?.cost === undefined ? limit : { ...limit, cost: named.cost };
  });
}
