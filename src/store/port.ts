/**
 * The store port: everything services ask of persistence, grouped by domain. One Kysely
 * implementation (store/kysely/) serves SQLite and PostgreSQL; what differs between the
 * engines (row locks, unique violations) is in store/engines.ts. Services see only this.
 *
 * Records mirror the stored rows: times are epoch milliseconds, booleans 0/1, lists JSON
 * text, so the store adds no conversion (and no allocation) of its own on the hot path.
 */

export type Engine = "sqlite" | "postgres";

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  role: string;
  is_staff: number;
  plan: string;
  disabled: number;
  /** Staff-granted: may verify the platform's keys (`keys:verify`) like a platform service. */
  is_service: number;
  /** When the address was proved by a mailed link; null until then. */
  email_verified_at: number | null;
  /** What a leak report does to this owner's keys: `revoke` (default) or `quarantine`. */
  leak_policy: string;
  /**
   * `user`, or `org` for an organization's own account (issue 16): it owns the organization's
   * keys, projects and plan, and never signs in. Absent on insert: `user`.
   */
  kind?: string;
  created_at: number;
  updated_at: number;
}

export type UserPatch = Partial<
  Pick<
    UserRow,
    | "plan"
    | "role"
    | "is_staff"
    | "is_service"
    | "disabled"
    | "updated_at"
    | "password_hash"
    | "email_verified_at"
    | "email"
    | "leak_policy"
  >
>;

/** A session is one refresh-token family: everything descended from one login. */
export interface SessionRow {
  id: string;
  user_id: string;
  amr: string;
  ip: string | null;
  user_agent: string | null;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  ended_at: number | null;
  end_reason: string | null;
  /** When the session ends however often it is refreshed (null only for rows before 0002). */
  absolute_expires_at: number | null;
  /** How long the session may go unrefreshed, as configured when it began. */
  idle_ms: number | null;
  /** The last sign-in or reauthentication (epoch ms; null only for rows before 0006). */
  auth_time: number | null;
}

export interface RefreshTokenRow {
  token_hash: string;
  session_id: string;
  created_at: number;
  expires_at: number;
  spent_at: number | null;
}

/** A refresh token with what `refresh` needs of its session and user. */
export interface RefreshLookup {
  session_id: string;
  spent_at: number | null;
  expires_at: number;
  user_id: string;
  amr: string;
  ended_at: number | null;
  absolute_expires_at: number | null;
  idle_ms: number | null;
  auth_time: number | null;
  disabled: number;
}

export interface SessionLiveness {
  user_id: string;
  ended_at: number | null;
  absolute_expires_at: number | null;
}

export interface TotpFactorRow {
  user_id: string;
  secret_ciphertext: string;
  enabled_at: number | null;
  last_used_step: number | null;
  created_at: number;
}

export interface BackupCodeRow {
  id: string;
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

export interface MfaTokenRow {
  token_hash: string;
  user_id: string;
  ip: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface MfaTokenLookup {
  user_id: string;
  expires_at: number;
  used_at: number | null;
  /** The token's user's `disabled` flag. */
  disabled: number;
}

/** A registered passkey (WebAuthn credential): its public key, never a secret. */
export interface PasskeyRow {
  id: string;
  user_id: string;
  /** The credential id, base64url. */
  credential_id: string;
  /** The COSE public key, base64url. */
  public_key: string;
  /** The authenticator's signature counter (0 for authenticators that keep none). */
  counter: number;
  /** JSON list of transports ("internal", "hybrid", "usb" …). */
  transports: string;
  /** "singleDevice" or "multiDevice" (synced). */
  device_type: string;
  backed_up: number;
  aaguid: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
}

/** What a WebAuthn challenge was issued for. */
export type ChallengePurpose = "register" | "login" | "mfa" | "reauthenticate";

export interface ChallengeRow {
  challenge_hash: string;
  purpose: ChallengePurpose;
  /** The user the ceremony is for; null for a passwordless sign-in (any passkey may answer). */
  user_id: string | null;
  /** The MFA token's hash (mfa) or the session (reauthenticate) the challenge is bound to. */
  session_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface ProjectRow {
  id: string;
  owner_id: string;
  name: string;
  created_at: number;
}

export interface KeyRow {
  id: string;
  owner_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  environment: string;
  scopes: string;
  project_id: string | null;
  ip_allow: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
  usage_count: number;
  rotated_from: string | null;
  /** The key that minted this one (through the API, with `keys:write`): revoked with it. */
  parent_key_id: string | null;
  /** What the owner wrote about the key; null when nothing. */
  description: string | null;
  /** The owner's JSON object (≤ 4 KiB), returned by verification; null when none. */
  meta: string | null;
  /** When the owner disabled it (refused as `key_disabled` until enabled); null: enabled. */
  disabled_at: number | null;
  // Usage credits (issue 20): null `credits_remaining` is unlimited. The live balance is a
  // counter in memory or Redis; this column is its periodic write-back (and its seed).
  credits_remaining: number | null;
  credits_refill_amount: number | null;
  /** `daily` or `monthly` (UTC); null: no refill. */
  credits_refill_interval: string | null;
  /** Epoch ms: the start of the refill period the stored balance belongs to (0 without refill). */
  credits_period: number;
  /** Bumped whenever the owner sets the balance: names a fresh counter, so old ones are ignored. */
  credits_gen: number;
  /** Names the live counter with `credits_gen`: a key's id, shared by its rotated successors. */
  credits_pool: string | null;
  /** Named rate limits (issue 20), JSON `[{name, limit, window_ms, cost}]`; null: none. */
  ratelimits: string | null;
  /** When a leak report named it (revoked, or quarantined while `disabled_at` is set). */
  leaked_at: number | null;
  /** Where the report said it was seen (its url, else its source); null when not said. */
  leak_source: string | null;
  /**
   * For an organization's key: the member who minted it (their role narrows it while they
   * are a member). Null for a person's own key. Absent on insert: null.
   */
  created_by?: string | null;
}

export type KeyPatch = Partial<
  Pick<
    KeyRow,
    | "name"
    | "scopes"
    | "revoked_at"
    | "expires_at"
    | "description"
    | "meta"
    | "disabled_at"
    | "ip_allow"
    | "credits_remaining"
    | "credits_refill_amount"
    | "credits_refill_interval"
    | "credits_period"
    | "credits_gen"
    | "credits_pool"
    | "ratelimits"
    | "leaked_at"
    | "leak_source"
  >
>;

/** A key's credit balance written back from its live counter. */
export interface CreditsWriteBack {
  /** The counter's pool: every key row sharing it (a key and its rotated successors). */
  pool: string;
  /** Only written while the key's balance is still this generation (a PATCH supersedes it). */
  gen: number;
  remaining: number;
  period: number;
}

/**
 * A named rate limit shared by every key of one owner (issue 20). `owner_id` is a user id
 * today; kept abstract (no foreign key) so an organization can own limits later.
 */
export interface OwnerLimitRow {
  owner_id: string;
  name: string;
  limit: number;
  window_ms: number;
  cost: number;
  updated_at: number;
}

export interface OwnerLimitStore {
  /** By name. */
  of(ownerId: string): Promise<OwnerLimitRow[]>;
  /** Replaces every limit of the owner, atomically. */
  replace(ownerId: string, rows: OwnerLimitRow[]): Promise<void>;
}

/** Hourly usage buckets; `project_id` is '' when a call named no project. */
/** Consecutive failed password sign-ins for one email (known or not), until a success. */
export interface LoginFailureRow {
  email: string;
  failures: number;
  last_failed_at: number;
}

/** The persistent half of the sign-in throttle (services/accounts/login-throttle.ts). */
export interface LoginFailureStore {
  /** The failures counted for this email; 0 when none. */
  count(email: string): Promise<number>;
  /** Counts one more in one atomic statement and returns the new count. */
  add(email: string, now: number): Promise<number>;
  /** Takes one back (an attempt that was not evaluated after all); never below zero. */
  subtract(email: string): Promise<void>;
  /** A sign-in, passkey sign-in or reset succeeded: the count starts afresh. */
  clear(email: string): Promise<void>;
  /**
   * Forgets counts whose last failure is before `before` — all of an unknown email's, and an
   * account's below `keepFrom` (a suspended account's stays until it signs in); how many.
   */
  prune(before: number, keepFrom: number): Promise<number>;
}

export interface UsageBucketRow {
  key_id: string;
  hour: number;
  endpoint: string;
  project_id: string;
  count: number;
}

export interface ActivityRow {
  key_id: string;
  at: number;
  endpoint: string;
  ip: string | null;
  outcome: string;
  /** For `POST /v1/keys/verify`: the credential that asked (`key_…` or `usr_…`). */
  verified_by: string | null;
  /**
   * Calls the row stands for: 1 for a call Latchkey answered; more for cached hits a
   * verifier reported together (`POST /v1/keys/usage`), so activity stays bounded.
   */
  count: number;
}

/** One key's share of a usage flush. */
export interface UsageCalls {
  key_id: string;
  count: number;
  /** The newest call: `last_used_at` moves forward to it. */
  last: number;
  /** Calls counted but not written as activity rows (sampled away under a flood). */
  sampled: number;
}

/** Everything one usage flush writes, in one transaction. */
export interface UsageBatch {
  /** In key id order: the counter rows are locked in this order. */
  calls: UsageCalls[];
  /** One row per (key, hour, endpoint, project). */
  buckets: UsageBucketRow[];
  /** Oldest first; at most `keep` per key. */
  activity: ActivityRow[];
  /** Keys whose activity is pruned to the newest `keep` rows after the insert. */
  prune: string[];
  keep: number;
}

export interface StoredActivity extends ActivityRow {
  id: number;
}

export interface UsageSummary {
  byEndpoint: { endpoint: string; count: number }[];
  /** `project_id` '' is calls that named no project. */
  byProject: { project_id: string; count: number }[];
  byHour: { hour: number; count: number }[];
}

export interface AuditRow {
  at: number;
  user_id: string | null;
  actor: string | null;
  event: string;
  ip: string | null;
  /** JSON text, or null. */
  details: string | null;
  /** The organization the event belongs to (its admins see it); null for a person's own. */
  org_id?: string | null;
}

export interface StoredAudit extends AuditRow {
  id: number;
}

/** What a one-time mailed token is for. */
export type AccountTokenPurpose = "verify_email" | "password_reset" | "change_email";

/** A one-time token sent by mail (SPEC §9); only its SHA-256 is stored. */
export interface AccountTokenRow {
  token_hash: string;
  user_id: string;
  purpose: AccountTokenPurpose;
  /** The address the token was mailed to: a verification proves this one only. */
  email: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** One message of the mail outbox; `payload` is sealed (it may hold a one-time link). */
export interface MailRow {
  id: string;
  kind: string;
  payload: string;
  created_at: number;
  next_attempt_at: number;
  attempts: number;
  /** While set and in the future, one sender holds the message. */
  lease_until: number | null;
  sent_at: number | null;
  /** Set when the sender gave up after its last attempt. */
  failed_at: number | null;
  last_error: string | null;
}

/** A webhook endpoint (issue 17); `events` is a JSON list, `secret_sealed` sealed. */
export interface WebhookEndpointRow {
  id: string;
  owner_id: string;
  url: string;
  description: string | null;
  events: string;
  secret_sealed: string;
  enabled: number;
  /** Why it was switched off (`failing`: 24 h of failed deliveries; `owner`). */
  disabled_reason: string | null;
  /** The first failed delivery since the last success; null while deliveries succeed. */
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

export type WebhookEndpointPatch = Partial<
  Pick<
    WebhookEndpointRow,
    | "url"
    | "description"
    | "events"
    | "enabled"
    | "disabled_reason"
    | "failing_since"
    | "secret_sealed"
  >
> & { updated_at: number };

/** One event: its id is the `webhook-id` every delivery and retry of it carries. */
export interface WebhookEventRow {
  id: string;
  owner_id: string;
  type: string;
  /** The JSON body delivered (`{type, timestamp, data}`), exactly as signed. */
  payload: string;
  dedup_key: string | null;
  created_at: number;
}

/** The outbox: one event for one endpoint, claimed by one sender at a time. */
export interface WebhookDeliveryRow {
  id: string;
  event_id: string;
  endpoint_id: string;
  created_at: number;
  next_attempt_at: number;
  attempts: number;
  lease_until: number | null;
  delivered_at: number | null;
  failed_at: number | null;
  last_status: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
}

/** A claimed delivery with what sending it needs. */
export interface DueDelivery extends WebhookDeliveryRow {
  url: string;
  secret_sealed: string;
  /** The endpoint's: a delivery claimed just as it was switched off is given up. */
  enabled: number;
  owner_id: string;
  type: string;
  payload: string;
  failing_since: number | null;
}

/** A delivery as listed, with its event's type. */
export interface DeliveryListRow extends WebhookDeliveryRow {
  type: string;
}

export interface WebhookAttemptRow {
  delivery_id: string;
  attempt: number;
  at: number;
  /** The receiver's HTTP status; null when no answer came (refused, timed out). */
  status: number | null;
  latency_ms: number;
  error: string | null;
}

/** A key that is about to expire or has, for the scheduler's `key.expiring` and `key.expired`. */
export interface ExpiringKeyRow {
  id: string;
  owner_id: string;
  name: string;
  prefix: string;
  environment: string;
  expires_at: number;
}

export interface WebhookStore {
  insertEndpoint(row: WebhookEndpointRow): Promise<void>;
  endpoint(id: string): Promise<WebhookEndpointRow | undefined>;
  endpointsOf(ownerId: string): Promise<WebhookEndpointRow[]>;
  updateEndpoint(id: string, patch: WebhookEndpointPatch): Promise<boolean>;
  deleteEndpoint(id: string): Promise<boolean>;
  /** Whether the owner has an enabled endpoint at all (cheap; before building an event). */
  hasEndpoints(ownerId: string): Promise<boolean>;
  /** Stores the event; false (and nothing stored) when its `dedup_key` is already there. */
  insertEvent(row: WebhookEventRow): Promise<boolean>;
  insertDeliveries(rows: WebhookDeliveryRow[]): Promise<void>;
  /**
   * Takes up to `limit` due deliveries of enabled endpoints for one sender: each gets
   * `lease_until` and one more attempt, atomically (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
   */
  claim(now: number, leaseUntil: number, limit: number): Promise<DueDelivery[]>;
  /**
   * Ends an attempt if it still holds the delivery: `outcome` delivered, retried from
   * `nextAttemptAt`, or given up (`failed`). Logs the attempt either way.
   */
  finish(
    id: string,
    attempt: WebhookAttemptRow,
    outcome: { delivered: boolean; nextAttemptAt: number | null },
  ): Promise<boolean>;
  /** Gives up every pending delivery of an endpoint (when it is switched off); how many. */
  abandonPending(endpointId: string, at: number, reason: string): Promise<number>;
  delivery(id: string): Promise<DeliveryListRow | undefined>;
  deliveries(
    endpointId: string,
    options: { limit: number; before?: string },
  ): Promise<DeliveryListRow[]>;
  attempts(deliveryId: string): Promise<WebhookAttemptRow[]>;
  /** Keys of owners with an enabled endpoint whose expiry falls in `[from, to)`, unrevoked. */
  expiringKeys(from: number, to: number, limit: number): Promise<ExpiringKeyRow[]>;
  /** Which of these dedup keys are stored already. */
  seenDedupKeys(keys: string[]): Promise<Set<string>>;
  /** Deletes events (and their deliveries) whose deliveries all ended before `before`. */
  prune(before: number): Promise<number>;
}

/** A unique constraint refused a write (an email or a token hash already stored). */
export class DuplicateError extends Error {
  constructor(cause: unknown) {
    super("a unique constraint refused the write", { cause });
    this.name = "DuplicateError";
  }
}

export interface UserStore {
  /** Whether any account exists (the first one on a fresh install is staff). */
  any(): Promise<boolean>;
  /** Throws DuplicateError when the email is taken. */
  insert(row: UserRow): Promise<void>;
  byId(id: string): Promise<UserRow | undefined>;
  byEmail(email: string): Promise<UserRow | undefined>;
  /** Oldest first, then by id. */
  list(options: { limit: number; offset: number }): Promise<UserRow[]>;
  /** False when there is no such user; throws DuplicateError when a new email is taken. */
  update(id: string, patch: UserPatch): Promise<boolean>;
  /**
   * The user's plan, read under a lock held until the transaction ends, so key creation
   * serialises per owner (PostgreSQL: the row, `FOR UPDATE`; SQLite: its single writer).
   * Only meaningful inside `transaction()`.
   */
  planForUpdate(id: string): Promise<string | undefined>;
}

export interface SessionStore {
  /** The session and its first refresh token, atomically. */
  start(session: SessionRow, token: RefreshTokenRow): Promise<void>;
  byRefreshHash(tokenHash: string): Promise<RefreshLookup | undefined>;
  /**
   * Spends `tokenHash` and, only if this call is the one that spent it, stores `next` and
   * extends the session, atomically. False when the token was already spent (a race lost).
   */
  rotate(tokenHash: string, next: RefreshTokenRow, lastUsedAt: number): Promise<boolean>;
  /**
   * Records a reauthentication on an open session of the user: its new auth time and the
   * factors just shown. False when the session is not the user's or has ended.
   */
  reauthenticate(
    userId: string,
    sessionId: string,
    authTime: number,
    amr: string,
  ): Promise<boolean>;
  /** Ends the session and spends its live tokens; true when this call ended it. */
  end(sessionId: string, at: number, reason: string): Promise<boolean>;
  /** The live session with this id if it belongs to the user. */
  isOwnOpen(userId: string, sessionId: string): Promise<boolean>;
  liveness(sessionId: string): Promise<SessionLiveness | undefined>;
  /** Not ended and not expired at `now`, most recently used first. */
  listOpen(userId: string, now: number): Promise<SessionRow[]>;
  /**
   * Ends every open session of the user but `keep` (null: all of them) and spends their
   * refresh tokens; the ids of the sessions it ended.
   */
  endAllOf(userId: string, at: number, reason: string, keep: string | null): Promise<string[]>;
}

export interface AccountTokenStore {
  insert(row: AccountTokenRow): Promise<void>;
  byHash(tokenHash: string): Promise<AccountTokenRow | undefined>;
  /** Spends the token: true only for the call that spent it (unused and unexpired at `at`). */
  spend(tokenHash: string, at: number): Promise<boolean>;
  /** Spends every unused token of the user for `purpose` (a newer one supersedes them). */
  supersede(userId: string, purpose: AccountTokenPurpose, at: number): Promise<void>;
  /** Deletes the user's tokens that expired before `now` (they can only be refused). */
  deleteExpired(userId: string, now: number): Promise<void>;
}

export interface MailStore {
  insert(row: MailRow): Promise<void>;
  /**
   * Takes up to `limit` due messages (unsent, not given up, `next_attempt_at` reached, no
   * live lease) for one sender: each gets `lease_until` and one more attempt, atomically,
   * so two senders never hold one message (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
   */
  claim(now: number, leaseUntil: number, limit: number): Promise<MailRow[]>;
  /** Marks the message sent and empties its payload, if this attempt still holds it. */
  sent(id: string, attempt: number, at: number): Promise<boolean>;
  /** Releases a failed attempt: retried from `nextAttemptAt`, or given up when that is null. */
  failed(
    id: string,
    attempt: number,
    at: number,
    nextAttemptAt: number | null,
    error: string,
  ): Promise<void>;
  /** Unsent messages not given up (for shutdown's drain and for operators). */
  pending(): Promise<number>;
  /** Deletes messages sent or given up before `before`; how many. */
  prune(before: number): Promise<number>;
}

export interface KeyStore {
  insert(row: KeyRow): Promise<void>;
  byHash(keyHash: string): Promise<KeyRow | undefined>;
  /** The keys among `ids` that exist (any owner), in no particular order. */
  byIds(ids: string[]): Promise<KeyRow[]>;
  /** The key if `ownerId` owns it. */
  owned(id: string, ownerId: string): Promise<KeyRow | undefined>;
  /** Newest first, then by id. */
  listByOwner(ownerId: string): Promise<KeyRow[]>;
  /** Neither revoked nor expired at `now`: what counts against a plan. */
  activeOf(ownerId: string, now: number): Promise<{ id: string; rotated_from: string | null }[]>;
  /** Unrevoked keys minted, directly or further down, from `roots`; parents before children. */
  descendants(roots: string[]): Promise<KeyRow[]>;
  update(id: string, patch: KeyPatch): Promise<void>;
  /** Revokes those of `ids` not revoked yet. */
  revoke(ids: string[], at: number): Promise<void>;
  setExpiry(ids: string[], at: number): Promise<void>;
}

export interface UsageStore {
  /**
   * Balances of live credit counters, in one transaction; rows of another generation are left.
   * With the usage flushes: off the event loop where they are (file-backed SQLite).
   */
  writeCredits(rows: CreditsWriteBack[]): Promise<void>;
  /** Adds `count` calls to the key's total and moves `last_used_at` forward to `last`. */
  addCalls(keyId: string, count: number, last: number): Promise<void>;
  /** Adds to the hourly buckets (inserting those that are new). */
  addBuckets(rows: UsageBucketRow[]): Promise<void>;
  addActivity(rows: ActivityRow[]): Promise<void>;
  countActivity(keyId: string): Promise<number>;
  /**
   * Writes a whole batch in one transaction (rolled back entirely on failure) with one
   * statement per table. Answers, for each key in `batch.prune`, its activity rows after it.
   */
  flush(batch: UsageBatch): Promise<Map<string, number>>;
  /** Calls of the key never written as activity rows (sampled away under a flood). */
  sampled(keyId: string): Promise<number>;
  /** Deletes the key's activity rows older than the newest `keep`. */
  pruneActivity(keyId: string, keep: number): Promise<void>;
  /** Calls by endpoint and project (all time, most first) and by hour from `sinceHour`. */
  summary(keyId: string, sinceHour: number): Promise<UsageSummary>;
  /** Newest first; `before` pages by id. */
  activity(
    keyId: string,
    options: { limit: number; before?: number | undefined },
  ): Promise<StoredActivity[]>;
}

export interface AuditStore {
  insert(row: AuditRow): Promise<void>;
  /** Newest first. `userId` null lists every user's events. */
  list(options: {
    userId: string | null;
    limit: number;
    before?: number | undefined;
    event?: string | undefined;
    /** Only the organization's events (`org_id`), whoever's they are. */
    orgId?: string | undefined;
  }): Promise<StoredAudit[]>;
}

export interface TwoFactorStore {
  factor(userId: string): Promise<TotpFactorRow | undefined>;
  /** One stored factor, any user's (the start-up check of the master key). */
  anyFactor(): Promise<TotpFactorRow | undefined>;
  /**
   * Stores a pending factor, replacing a pending one; false when an enabled one exists.
   */
  putPending(userId: string, sealed: string, now: number): Promise<boolean>;
  /** Enables the pending factor if it is still the one sealed as `sealed`. */
  enable(userId: string, sealed: string, step: number, now: number): Promise<boolean>;
  /** Locks the enabled factor's row until the transaction ends; false when none is enabled. */
  lockEnabled(userId: string): Promise<boolean>;
  /** Claims a TOTP step: true only if it is newer than the last accepted one. */
  claimStep(userId: string, step: number): Promise<boolean>;
  /**
   * Marks an unused backup code used, the one stored under any of `codeHashes` (the code's
   * hash under each master key): true only for the call that marked it.
   */
  useBackupCode(userId: string, codeHashes: readonly string[], at: number): Promise<boolean>;
  unusedBackupCodes(userId: string): Promise<number>;
  /** Deletes the user's backup codes and stores `rows`. */
  replaceBackupCodes(userId: string, rows: BackupCodeRow[]): Promise<void>;
  /** Deletes the factor and the backup codes. */
  remove(userId: string): Promise<void>;
  /** Stores an MFA token, deleting the user's expired ones. */
  issueMfaToken(row: MfaTokenRow): Promise<void>;
  mfaToken(tokenHash: string): Promise<MfaTokenLookup | undefined>;
  /** True only for the call that spent it. */
  spendMfaToken(tokenHash: string, at: number): Promise<boolean>;
}

export interface PasskeyStore {
  insert(row: PasskeyRow): Promise<void>;
  /** Oldest first. */
  listByUser(userId: string): Promise<PasskeyRow[]>;
  countByUser(userId: string): Promise<number>;
  byCredentialId(credentialId: string): Promise<PasskeyRow | undefined>;
  /** False when the user has no such passkey. */
  rename(userId: string, id: string, name: string): Promise<boolean>;
  /** False when the user has no such passkey. */
  remove(userId: string, id: string): Promise<boolean>;
  /**
   * Records a use: the new counter and time, only if the stored counter is still `previous`
   * (two assertions racing with one counter value cannot both pass).
   */
  recordUse(id: string, previous: number, counter: number, at: number): Promise<boolean>;
  /** Stores a challenge, deleting expired ones. */
  issueChallenge(row: ChallengeRow): Promise<void>;
  /** Spends the challenge: the row, only for the call that spent it (unused, unexpired at `at`). */
  spendChallenge(challengeHash: string, at: number): Promise<ChallengeRow | undefined>;
}

/**
 * The columns that hold a value sealed (or, for backup codes, keyed-hashed) under a master
 * key, each value naming its key as `v2.<key id>.…` (unversioned ones are from before the ring).
 */
export type SealedColumn = "totp_secret" | "mail_payload" | "webhook_secret" | "backup_code";
/** The sealed columns that can be re-sealed (a backup code's hash cannot). */
export type ResealableColumn = Exclude<SealedColumn, "backup_code">;

export interface SealedValue {
  /** The row: the user id (TOTP secret) or the message id (mail). */
  id: string;
  value: string;
}

export interface SealedChange {
  id: string;
  from: string;
  to: string;
}

export interface SealedStore {
  /**
   * Values still in use (every TOTP secret, pending mail, unused backup codes) by the key id
   * they name; `""` counts the unversioned ones.
   */
  countByKey(column: SealedColumn): Promise<Map<string, number>>;
  /** Up to `limit` values in use not sealed under `keyId`, with id above `after`, by id. */
  notUnder(
    column: ResealableColumn,
    keyId: string,
    after: string,
    limit: number,
  ): Promise<SealedValue[]>;
  /**
   * Writes each change in one transaction, each only where the row still holds `from` (a
   * concurrent write wins); how many were written.
   */
  replace(column: ResealableColumn, changes: readonly SealedChange[]): Promise<number>;
}

/** An organization (issue 16); its account row (users, kind `org`) has the same id. */
export interface OrgRow {
  id: string;
  name: string;
  created_by: string | null;
  created_at: number;
  updated_at: number;
  /** Set when deleted: its keys are revoked, its members gone, its account disabled. */
  deleted_at: number | null;
  // Policies; null (0) where the organization sets none.
  max_key_lifetime_ms: number | null;
  require_2fa: number;
  /** JSON `["live"]`, `["test"]` or both. */
  allowed_environments: string | null;
  /** JSON CIDR list every org key must also satisfy. */
  ip_allow: string | null;
  /** JSON grants; the organization's access is the catalogue's within them. */
  allowed_scopes: string | null;
}

export type OrgPatch = Partial<
  Pick<
    OrgRow,
    | "name"
    | "updated_at"
    | "deleted_at"
    | "max_key_lifetime_ms"
    | "require_2fa"
    | "allowed_environments"
    | "ip_allow"
    | "allowed_scopes"
  >
>;

export interface OrgMemberRow {
  org_id: string;
  user_id: string;
  /** `owner`, `admin`, `member` or `viewer` (core/org-roles.ts). */
  role: string;
  created_at: number;
  updated_at: number;
}

/** A member as listed: with their email and whether two-factor is on. */
export interface OrgMemberView extends OrgMemberRow {
  email: string;
  has_2fa: boolean;
}

export interface OrgInvitationRow {
  id: string;
  org_id: string;
  /** Lower-cased; only an account with this address may accept. */
  email: string;
  role: string;
  /** SHA-256 of the token; the token is shown once. */
  token_hash: string;
  invited_by: string | null;
  created_at: number;
  expires_at: number;
  accepted_at: number | null;
  accepted_by: string | null;
  revoked_at: number | null;
}

export interface OrgStore {
  /** The organization's account, its row and its first owner, in one transaction. */
  create(account: UserRow, org: OrgRow, owner: OrgMemberRow): Promise<void>;
  /** A live (not deleted) organization. */
  byId(id: string): Promise<OrgRow | undefined>;
  /**
   * A live organization, read under a lock held until the transaction ends, so membership
   * changes serialise per organization (PostgreSQL `FOR UPDATE`; SQLite its single writer).
   */
  lock(id: string): Promise<OrgRow | undefined>;
  update(id: string, patch: OrgPatch): Promise<boolean>;
  membership(orgId: string, userId: string): Promise<OrgMemberRow | undefined>;
  /** The user's live organizations with their role, by name. */
  membershipsOf(userId: string): Promise<{ org: OrgRow; role: string }[]>;
  /** Owners first, then by when they joined. */
  members(orgId: string): Promise<OrgMemberView[]>;
  /** False when the user is a member already. */
  addMember(row: OrgMemberRow): Promise<boolean>;
  setRole(orgId: string, userId: string, role: string, now: number): Promise<boolean>;
  removeMember(orgId: string, userId: string): Promise<boolean>;
  removeAllMembers(orgId: string): Promise<string[]>;
  countOwners(orgId: string): Promise<number>;
  insertInvitation(row: OrgInvitationRow): Promise<void>;
  /** Neither accepted, revoked nor expired at `now`; newest first. */
  pendingInvitations(orgId: string, now: number): Promise<OrgInvitationRow[]>;
  invitationByHash(tokenHash: string): Promise<OrgInvitationRow | undefined>;
  /** Marks it accepted, only if it is still pending at `now`: true for the one call that did. */
  acceptInvitation(id: string, userId: string, now: number): Promise<boolean>;
  /** True when a pending invitation was revoked. */
  revokeInvitation(orgId: string, id: string, now: number): Promise<boolean>;
  /** Unrevoked keys of the organization, all or those `createdBy` minted. */
  keysOf(orgId: string, createdBy?: string): Promise<KeyRow[]>;
  /** Whether the user has an enabled TOTP factor (for `require_2fa`). */
  has2fa(userId: string): Promise<boolean>;
}

export interface ProjectStore {
  insert(row: ProjectRow): Promise<void>;
  /** Oldest first, then by id. */
  listByOwner(ownerId: string): Promise<ProjectRow[]>;
  isOwnedBy(projectId: string, ownerId: string): Promise<boolean>;
}

export interface Store {
  readonly engine: Engine;
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly keys: KeyStore;
  readonly usage: UsageStore;
  readonly audit: AuditStore;
  readonly twofa: TwoFactorStore;
  readonly projects: ProjectStore;
  readonly accountTokens: AccountTokenStore;
  readonly mail: MailStore;
  readonly passkeys: PasskeyStore;
  readonly ownerLimits: OwnerLimitStore;
  readonly loginFailures: LoginFailureStore;
  readonly sealed: SealedStore;
  readonly webhooks: WebhookStore;
  readonly orgs: OrgStore;
  /**
   * Runs `fn` on at most one instance at a time across the cluster (PostgreSQL: an advisory
   * lock named `name`; SQLite: this process, which is the only one on its file). Resolves
   * `undefined` without running `fn` when another holder has it.
   */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T | undefined>;
  /**
   * Runs `fn` with a store bound to one transaction: committed when `fn` resolves, rolled
   * back when it throws. Inside a transaction, `transaction` runs `fn` in the same one.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
