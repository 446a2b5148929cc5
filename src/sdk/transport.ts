import { apiErrorFrom, LatchkeyNetworkError } from "./errors.js";

export type Fetch = typeof globalThis.fetch;

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Overrides the transport's credential for this call (`null`: send none). */
  credential?: string | null;
}

export interface TransportOptions {
  baseUrl: string;
  fetch?: Fetch;
  timeoutMs?: number;
  userAgent?: string;
}

/** JSON over HTTP with the spec's errors turned into `LatchkeyApiError`. */
export class Transport {
  readonly baseUrl: string;
  private readonly fetchImpl: Fetch;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  credential: string | null = null;

  constructor(options: TransportOptions) {
    if (!options.baseUrl) throw new TypeError("baseUrl is required");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.userAgent = options.userAgent ?? "latchkey-sdk";
  }

  url(path: string, query?: Query): string {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query ?? {}))
      if (value !== undefined) url.searchParams.set(name, String(value));
    return url.toString();
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": this.userAgent,
    };
    const credential = options.credential === undefined ? this.credential : options.credential;
    if (credential) headers.authorization = `Bearer ${credential}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path, options.query), {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new LatchkeyNetworkError(`cannot reach Latchkey at ${this.baseUrl}`, { cause: error });
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new LatchkeyNetworkError("the answer from Latchkey was cut off", { cause: error });
    }
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        if (response.ok)
          throw new LatchkeyNetworkError("Latchkey answered with something other than JSON", {
            cause: error,
          });
      }
    }
    if (!response.ok) throw apiErrorFrom(response.status, parsed, response.headers);
    return parsed as T;
  }
}
