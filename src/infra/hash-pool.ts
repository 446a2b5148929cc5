import { availableParallelism } from "node:os";
import argon2 from "argon2";

/** argon2id's cost: memory in KiB, passes, lanes. */
export interface HashCost {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): the cost of every production build. */
export const OWASP_COST: HashCost = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/**
 * The cost test servers may use (LATCHKEY_PASSWORD_HASH=test, which config accepts only
 * under a test runner): still argon2id, still salted, but about a thousand times cheaper.
 */
export const TEST_COST: HashCost = { memoryCost: 64, timeCost: 1, parallelism: 1 };

/**
 * Password hashing off the event loop (argon2 runs on libuv's thread pool) and, by
 * default, on at most cores − 1 threads at once: a burst of logins queues here instead
 * of taking every core from the event loop that serves key verification.
 */
export class HashPool {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly options: argon2.Options & { raw?: false };

  constructor(
    cost: HashCost = OWASP_COST,
    private readonly limit = Math.max(1, availableParallelism() - 1),
  ) {
    this.options = { type: argon2.argon2id, ...cost };
  }

  hash(password: string): Promise<string> {
    return this.run(() => argon2.hash(password, this.options));
  }

  /** False for a wrong password or an unreadable hash. */
  verify(hash: string, password: string): Promise<boolean> {
    return this.run(() => argon2.verify(hash, password).catch(() => false));
  }

  private async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }
}
