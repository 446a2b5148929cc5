import { availableParallelism } from "node:os";
import argon2 from "argon2";

// OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane).
const ARGON2 = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * Password hashing off the event loop (argon2 runs on libuv's thread pool) and, by
 * default, on at most cores − 1 threads at once: a burst of logins queues here instead
 * of taking every core from the event loop that serves key verification.
 */
export class HashPool {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit = Math.max(1, availableParallelism() - 1)) {}

  hash(password: string): Promise<string> {
    return this.run(() => argon2.hash(password, ARGON2));
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
