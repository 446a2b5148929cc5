import { requestJson, type Fetch, type Query } from "../api/http-client.js";

export type { Fetch, Query };

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Overrides the transport's credential for this call (`null`: send none). */
  credential?: string | null;
}

export interface TransportOptions {
  baseUrl: string;
  fetch?: Fetch | undefined;
  timeoutMs?: number | undefined;
  userAgent?: string;
}

/** The SDK's side of the shared client (api/http-client.ts): a base URL, a credential, a timeout. */
export class Transport {
  readonly baseUrl: string;
  private readonly fetchImpl: Fetch;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  credential: string | null = null;
  /** The organization requests act in (`Latchkey-Org`); null: the caller's own space. */
  org: string | null = null;

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

  request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return requestJson<T>({
      method,
      url: this.url(path, options.query),
      body: options.body,
      bearer: options.credential === undefined ? this.credential : options.credential,
      headers: this.org
        ? { "user-agent": this.userAgent, "latchkey-org": this.org }
        : { "user-agent": this.userAgent },
      timeoutMs: this.timeoutMs,
      fetch: this.fetchImpl,
      where: this.baseUrl,
    });
  }
}
