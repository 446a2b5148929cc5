/**
 * The loop every outbox sender runs (mail, webhooks): a pass over what is due, every
 * `pollMs` and at once when woken by new work, never two passes at once on one instance (a
 * wake during a pass runs another pass right after it).
 */
export class PollLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    /** One pass: how many items it handled. */
    private readonly pass: () => Promise<number>,
    private readonly pollMs: () => number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Whether `start` was called (services built by tests pass only when told). */
  get started(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.stopped || this.timer) return;
    this.schedule(0);
  }

  /** New work was committed: pass now rather than at the next poll. */
  wake(): void {
    if (this.timer === null || this.stopped) return;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.cycle().finally(() => {
        if (!this.stopped) this.schedule(this.pollMs());
      });
    }, ms);
    this.timer.unref();
  }

  /** One pass (or, while one runs, another right after it): how many items it handled. */
  async cycle(): Promise<number> {
    if (this.running) {
      this.again = true;
      await this.running.catch(() => undefined);
      return 0;
    }
    let handled = 0;
    this.running = (async () => {
      do {
        this.again = false;
        handled += await this.pass();
      } while (this.again && !this.stopped);
      return handled;
    })();
    try {
      return await this.running;
    } catch (error) {
      this.onError(error);
      return handled;
    } finally {
      this.running = null;
    }
  }

  /** No more passes; resolves once the one in flight is over. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.running) await this.running.catch(() => undefined);
  }
}
