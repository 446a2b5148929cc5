import type { RefillInterval } from "../../core/credits.js";
import type { Environment } from "../../core/key-format.js";
import type { KeyRow } from "../../store/port.js";

/** An API key as stored: never the secret, only its SHA-256 and display prefix. */
export type ApiKey = KeyRow;

/** A key as some operation left it, with the moment that operation read the clock. */
export interface KeyAt {
  row: ApiKey;
  /** Epoch milliseconds: what the key's status is judged against. */
  at: number;
}

/** A key just made (create, rotate): the secret, shown this once. */
export interface CreatedKey extends KeyAt {
  key: string;
}

/** What a new key asks for; times are durations or ISO 8601, as a caller gives them. */
export interface NewKeyInput {
  name: string;
  scopes: string[];
  environment?: Environment | undefined;
  expires_in?: string | undefined;
  expires_at?: string | undefined;
  project_id?: string | undefined;
  ip_allow?: string[] | undefined;
  description?: string | undefined;
  meta?: Record<string, unknown> | undefined;
  remaining?: number | undefined;
  refill?: Refill | undefined;
  ratelimits?: NamedLimitInput[] | undefined;
}

/** A key's refill as a caller gives it. */
export interface Refill {
  amount: number;
  interval: RefillInterval;
}

/** A named limit as a caller gives it: the window as a duration (`1m`). */
export interface NamedLimitInput {
  name: string;
  limit: number;
  window: string;
  cost?: number | undefined;
}
