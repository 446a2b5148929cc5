import type { Redis } from "ioredis";
import { cryptoRandom, type Random } from "./random.js";

/** Cache invalidations and revocations, shared by every instance when Redis is configured. */
export type BusEvent =
  | { type: "key_changed"; keyId: string; keyHash: string; revoked: boolean }
  | { type: "user_changed"; userId: string }
  | { type: "session_ended"; sessionId: string };

export type BusHandler = (event: BusEvent) => void;

export interface Bus {
  /** Runs local handlers synchronously, then tells the other instances. */
  publish(event: BusEvent): Promise<void>;
  subscribe(handler: BusHandler): () => void;
  close(): Promise<void>;
}

class LocalHandlers {
  private readonly handlers = new Set<BusHandler>();

  add(handler: BusHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  emit(event: BusEvent): void {
    for (const handler of this.handlers) handler(event);
  }
}

export class LocalBus implements Bus {
  private readonly handlers = new LocalHandlers();

  async publish(event: BusEvent): Promise<void> {
    this.handlers.emit(event);
  }

  subscribe(handler: BusHandler): () => void {
    return this.handlers.add(handler);
  }

  async close(): Promise<void> {}
}

export class RedisBus implements Bus {
  private readonly handlers = new LocalHandlers();
  private readonly instance: string;

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly channel: string,
    random: Random,
  ) {
    this.instance = random.uuid();
    subscriber.on("message", (channel: string, message: string) => {
      if (channel !== this.channel) return;
      try {
        const { from, event } = JSON.parse(message) as { from: string; event: BusEvent };
        if (from !== this.instance) this.handlers.emit(event);
      } catch {
        // a malformed message from outside: ignore it
      }
    });
  }

  static async connect(
    publisher: Redis,
    prefix: string,
    random: Random = cryptoRandom,
  ): Promise<RedisBus> {
    const subscriber = publisher.duplicate();
    const channel = `${prefix}bus`;
    await subscriber.subscribe(channel);
    return new RedisBus(publisher, subscriber, channel, random);
  }

  async publish(event: BusEvent): Promise<void> {
    this.handlers.emit(event);
    await this.publisher.publish(this.channel, JSON.stringify({ from: this.instance, event }));
  }

  subscribe(handler: BusHandler): () => void {
    return this.handlers.add(handler);
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
  }
}
