import type { Fetch } from "./transport.js";

/** What the stream tells a verifier (the server's `GET /v1/keys/revocations` events). */
export type RevocationEvent =
  | { type: "key_changed"; keyId: string; keyHashPrefix: string; revoked: boolean }
  | { type: "session_ended"; sessionId: string }
  | { type: "user_changed"; userId: string };

export interface RevocationStreamOptions {
  url: string;
  credential: string;
  fetch: Fetch;
  onEvent: (event: RevocationEvent) => void;
  /** Called with true once the stream is live, false whenever it drops. */
  onState: (connected: boolean) => void;
  onError?: (error: Error) => void;
}

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;
/** The server comments every 15 s; silence for longer than this means a dead connection. */
const SILENCE_MS = 40_000;

function parseFrame(frame: string): RevocationEvent | null {
  let name = "message";
  let data = "";
  for (const line of frame.split(/\r?\n/)) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(data || "{}") as Record<string, unknown>;
  } catch {
    return null;
  }
  if (name === "key_changed" && typeof body.key_id === "string")
    return {
      type: "key_changed",
      keyId: body.key_id,
      keyHashPrefix: typeof body.key_hash_prefix === "string" ? body.key_hash_prefix : "",
      revoked: body.revoked === true,
    };
  if (name === "session_ended" && typeof body.session_id === "string")
    return { type: "session_ended", sessionId: body.session_id };
  if (name === "user_changed" && typeof body.user_id === "string")
    return { type: "user_changed", userId: body.user_id };
  return null;
}

/**
 * Follows Latchkey's revocation stream (Server-Sent Events over a streamed fetch) and
 * reconnects with jittered exponential backoff until stopped.
 */
export class RevocationStream {
  private readonly stopper = new AbortController();
  private running: Promise<void> | null = null;

  constructor(private readonly options: RevocationStreamOptions) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.stopper.signal.aborted) {
      try {
        await this.follow(() => {
          attempt = 0;
        });
      } catch (error) {
        if (!this.stopper.signal.aborted)
          this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
      }
      this.options.onState(false);
      if (this.stopper.signal.aborted) return;
      const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
      attempt += 1;
      await this.sleep(delay * (0.5 + Math.random() / 2));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      this.stopper.signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  /** One connection: resolves when the server ends it, throws when it fails. */
  private async follow(onLive: () => void): Promise<void> {
    const connection = new AbortController();
    const abort = () => connection.abort();
    this.stopper.signal.addEventListener("abort", abort, { once: true });
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const feed = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(abort, SILENCE_MS);
      watchdog.unref?.();
    };
    try {
      const response = await this.options.fetch(this.options.url, {
        headers: {
          authorization: `Bearer ${this.options.credential}`,
          accept: "text/event-stream",
        },
        signal: connection.signal,
      });
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw new Error(`revocation stream refused: HTTP ${response.status}`);
      }
      feed();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        feed();
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
          if (/^event:\s*ready\s*$/m.test(frame)) {
            onLive();
            this.options.onState(true);
            continue;
          }
          const event = parseFrame(frame);
          if (event) this.options.onEvent(event);
        }
      }
    } finally {
      clearTimeout(watchdog);
      this.stopper.signal.removeEventListener("abort", abort);
      connection.abort();
    }
  }
}
