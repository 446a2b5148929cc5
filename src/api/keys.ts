/**
 * Wire contract of API keys, projects and verification (SPEC §4). Times are ISO 8601
 * strings; `null` where a time does not apply.
 */
import { z } from "zod";
import { REFILL_INTERVALS } from "../core/credits.js";
import { parseDuration } from "../core/durations.js";
import { VERIFY_REFUSALS } from "../core/errors.js";

/** At most this many uses are leased per verification (`lease`). */
export const MAX_LEASE = 1000;
/** Bounds of `POST /v1/keys/usage`: entries per call, hits per entry. */
export const MAX_USAGE_ENTRIES = 500;
export const MAX_USAGE_COUNT = 1_000_000;

const name = z.string().trim().min(1, "must not be empty").max(100);
/** At most this many bytes of JSON in a key's `meta`. */
export const MAX_META_BYTES = 4096;
const description = z
  .string()
  .trim()
  .max(500)
  .describe("what the key is for, for people; empty clears it");
const meta = z
  .record(z.string(), z.unknown())
  .refine((v) => Buffer.byteLength(JSON.stringify(v)) <= MAX_META_BYTES, {
    message: `must be at most ${MAX_META_BYTES} bytes of JSON`,
  })
  .describe(
    "the owner's JSON object (at most 4 KiB), returned by POST /v1/keys/verify and the SDK verifier",
  );
const scope = z.string().trim().min(1).max(64);
const scopes = z.array(scope).min(1, "name at least one scope").max(64);
/** A scope a service asks about; untrimmed (see VerifyBody). */
const verifyScope = z.string().min(1).max(64).regex(/^\S+$/, "must not contain spaces");

export const Environment = z.enum(["live", "test"]);

// ---- usage credits and named rate limits (issue 20) ----

/** Named limits on one key, or on one owner, at most. */
export const MAX_NAMED_LIMITS = 16;
/** A named limit's window: a duration from 1s to 30d. */
export const MIN_WINDOW_MS = 1000;
export const MAX_WINDOW_MS = 30 * 86_400_000;
const limitName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "letters, digits and _ . : - (at most 64)");
const credits = z.number().int().min(0).max(1_000_000_000_000);
const window = z
  .string()
  .max(16)
  .refine((v) => {
    const ms = parseDuration(v);
    return ms !== null && ms >= MIN_WINDOW_MS && ms <= MAX_WINDOW_MS;
  }, "a duration from 1s to 30d, such as 1s, 10s, 1m, 1h, 1d")
  .describe("the sliding window, a duration such as 10s, 1m, 1h, 1d");
export const Refill = z
  .strictObject({
    amount: z.number().int().min(1).max(1_000_000_000_000),
    interval: z.enum(REFILL_INTERVALS).describe("at each UTC midnight, or first of the month"),
  })
  .describe("the balance is reset to `amount` at each interval's start (UTC)");
export const NamedLimitBody = z.strictObject({
  name: limitName,
  limit: z.number().int().min(1).max(1_000_000_000),
  window,
  cost: z
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .optional()
    .describe("what a verification that does not name this limit spends of it; default 1"),
});
export const NamedLimits = z
  .array(NamedLimitBody)
  .max(MAX_NAMED_LIMITS)
  .refine((list) => new Set(list.map((l) => l.name)).size === list.length, {
    message: "limit names must be unique",
  });
export const NamedLimit = z.object({
  name: z.string(),
  limit: z.number(),
  window: z.string(),
  window_ms: z.number(),
  cost: z.number(),
});
export const KeyStatus = z.enum(["active", "expired", "revoked"]);

export const CreateKeyBody = z
  .strictObject({
    name,
    scopes,
    environment: Environment.optional().describe(
      "default live; a key minted by another key keeps its parent's environment",
    ),
    expires_in: z.string().max(16).optional().describe("a duration such as 30d, 90d, 24h, 1y"),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    project_id: z.string().min(1).max(100).optional(),
    ip_allow: z
      .array(z.string().trim().min(1).max(64))
      .max(64)
      .optional()
      .describe("IPv4/IPv6 addresses or CIDR ranges the key may be used from"),
    description: description.optional(),
    meta: meta.optional(),
    remaining: credits
      .optional()
      .describe(
        "usage credits: verifications (or their `cost`) the key may spend; absent: unlimited (with refill: the refill amount)",
      ),
    refill: Refill.optional(),
    ratelimits: NamedLimits.optional().describe(
      "named rate limits of this key (sliding window), spent by POST /v1/keys/verify",
    ),
  })
  .refine((v) => v.expires_in === undefined || v.expires_at === undefined, {
    message: "give expires_in or expires_at, not both",
    path: ["expires_at"],
  });

/** A key as listed: never the secret. */
export const KeyRecord = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().describe("the first 12 characters of the key"),
  environment: Environment,
  scopes: z.array(z.string()),
  project_id: z.string().nullable(),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  usage_count: z.number(),
  revoked_at: z.string().nullable(),
  status: KeyStatus,
  description: z.string().nullable(),
  meta: z.record(z.string(), z.unknown()).nullable(),
  enabled: z.boolean().describe("false: disabled by its owner, refused as key_disabled"),
  disabled_at: z.string().nullable(),
  leaked_at: z
    .string()
    .nullable()
    .describe(
      "when a leak report named the key: revoked then, or quarantined (key_leaked) while disabled",
    ),
  leak_source: z.string().nullable().describe("where the report said it was seen"),
  remaining: z
    .number()
    .nullable()
    .describe("usage credits left; null: unlimited. Lists show the balance as last written back"),
  refill: Refill.nullable(),
  ratelimits: z.array(NamedLimit).describe("the key's own named limits (its owner's are shared)"),
  org_id: z.string().nullable().describe("the organization that owns the key; null for yours"),
  created_by: z.string().nullable().describe("for an organization's key: the member who minted it"),
});

export const KeyList = z.object({ api_keys: z.array(KeyRecord) });

/** The record with its restrictions: the answer of create, rotate, edit and revoke. */
export const KeyRecordFull = KeyRecord.extend({
  ip_allow: z.array(z.string()).nullable(),
  rotated_from: z.string().nullable(),
  parent_key_id: z
    .string()
    .nullable()
    .describe("the key that created this one, if a key did: revoking it revokes this one"),
});

/** The only answers that carry the secret: create and rotate. */
export const KeyCreated = KeyRecordFull.extend({
  key: z.string().describe("the secret, shown this once"),
});

export const KeyUsage = z.object({
  by_endpoint: z.array(z.object({ endpoint: z.string(), count: z.number() })),
  by_project: z.array(z.object({ project_id: z.string().nullable(), count: z.number() })),
  by_hour: z.array(z.object({ hour: z.string(), count: z.number() })),
});

export const KeyDetails = KeyRecordFull.extend({ usage: KeyUsage });

export const KeyPatch = z
  .strictObject({
    name: name.optional(),
    scopes: scopes.optional(),
    description: description.optional(),
    meta: meta.nullable().optional().describe("null clears it"),
    enabled: z
      .boolean()
      .optional()
      .describe("false disables the key without revoking it (key_disabled); true enables it"),
    expires_in: z
      .string()
      .max(16)
      .optional()
      .describe("a new, earlier end: a duration from now (30d, 24h); expiry can only be shortened"),
    expires_at: z.iso
      .datetime({ offset: true })
      .optional()
      .describe("a new, earlier end; expiry can only be shortened"),
    ip_allow: z
      .array(z.string().trim().min(1).max(64))
      .max(64)
      .nullable()
      .optional()
      .describe("replaces the address allowlist; null removes it (not for a key minted by a key)"),
    remaining: credits.nullable().optional().describe("sets the balance; null: unlimited"),
    refill: Refill.nullable().optional().describe("null stops refilling"),
    ratelimits: NamedLimits.nullable().optional().describe("replaces the key's named limits"),
  })
  .refine((v) => v.expires_in === undefined || v.expires_at === undefined, {
    message: "give expires_in or expires_at, not both",
    path: ["expires_at"],
  })
  .refine((v) => Object.values(v).some((field) => field !== undefined), {
    message:
      "name at least one of name, scopes, description, meta, enabled, expiry, ip_allow, remaining, refill, ratelimits",
  });

export const RotateBody = z.strictObject({
  expire_old_in: z.string().max(16).optional().describe("e.g. 24h; default: until revoked"),
});

export const ActivityQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().positive().optional(),
});

export const KeyActivityEntry = z.object({
  id: z.number(),
  at: z.string(),
  endpoint: z.string(),
  ip: z.string().nullable(),
  outcome: z.string().describe("`ok`, `valid`, or the refusal code"),
  verified_by: z
    .string()
    .nullable()
    .describe("for POST /v1/keys/verify: the credential that asked (a key id or a user id)"),
  count: z
    .number()
    .describe(
      "calls the row stands for: 1 for a call Latchkey answered, more for cached hits a verifier reported together (POST /v1/keys/usage)",
    ),
});

export const KeyActivity = z.object({
  activity: z.array(KeyActivityEntry),
  next_before: z.number().nullable(),
  sampled: z
    .number()
    .describe(
      "calls counted in usage_count but not logged as activity rows: under a flood at most LATCHKEY_USAGE_ACTIVITY_SAMPLE per key per flush, and LATCHKEY_USAGE_ACTIVITY_PER_SECOND per instance in all, are logged (each key's newest call always)",
    ),
});

export const VerifyBody = z.strictObject({
  key: z.string().min(1).max(256),
  scopes: z.array(verifyScope).max(64).optional(),
  project_id: z.string().min(1).max(100).optional(),
  // No .trim() here: the hot route's compiled validator takes the body as sent (http/compiled.ts);
  // the verifier trims.
  endpoint: z.string().min(1).max(200).regex(/\S/, "must not be blank").optional(),
  ip: z.union([z.ipv4(), z.ipv6()]).optional(),
  lease: z
    .number()
    .int()
    .min(1)
    .max(MAX_LEASE)
    .optional()
    .describe(
      "ask for up to this many more uses of the key's rate limit, to spend on cached answers; granted only to a valid key, only what fits under the limit (see `lease`); never to a key with credits or named limits",
    ),
  cost: z
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .optional()
    .describe("usage credits this call spends, when the key has credits; default 1"),
  ratelimits: z
    .array(
      z.strictObject({
        name: limitName,
        cost: z.number().int().min(0).max(1_000_000).optional(),
      }),
    )
    .max(MAX_NAMED_LIMITS)
    .optional()
    .describe(
      "costs for this call of named limits (the key's, else its owner's); every limit applies, one not named spends its own cost",
    ),
});

/** `valid`, or one of the ERRORS codes a key check refuses with (core/errors.ts). */
export const VerifyCode = z.enum(["valid", ...VERIFY_REFUSALS]);

export const RateLimitState = z.object({
  limit: z.number(),
  remaining: z.number(),
  reset: z.number().describe("epoch milliseconds when the window resets"),
});

/** Uses of the key's rate limit spent in advance, for the caller's cached answers. */
export const VerifyLease = z.object({
  granted: z
    .number()
    .describe("uses spent from the key's window for the caller's cached answers (may be 0)"),
  reset: z.number().describe("epoch milliseconds when the window ends: unused uses lapse"),
  reset_in: z.number().describe("milliseconds until then, for callers that cannot trust clocks"),
});

export const VerifyResponse = z.object({
  valid: z.boolean(),
  code: VerifyCode,
  key_id: z.string().nullable(),
  owner_id: z.string().nullable(),
  org_id: z
    .string()
    .nullable()
    .describe("the organization that owns the key (then also `owner_id`); null for a person's"),
  environment: Environment.nullable(),
  scopes: z.array(z.string()).describe("the key's effective scopes"),
  project_id: z.string().nullable(),
  expires_at: z.string().nullable(),
  ratelimit: RateLimitState.nullable(),
  meta: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe("the key's metadata as its owner set it; null when none or the key is unknown"),
  lease: VerifyLease.optional().describe("only when the call asked for a lease"),
  remaining: z
    .number()
    .nullable()
    .describe("usage credits left after this call; null when the key has none"),
  ratelimits: z
    .array(
      z.object({
        name: z.string(),
        scope: z.enum(["key", "owner"]).describe("owner: shared by every key of the owner"),
        limit: z.number(),
        remaining: z.number(),
        reset: z.number().describe("epoch milliseconds when the current window ends"),
      }),
    )
    .describe("each named limit after this call (empty when the key and its owner have none)"),
});

/** Staff set (replace) an owner's named limits, shared by all of the owner's keys. */
export const OwnerLimitsBody = z.strictObject({ ratelimits: NamedLimits });
export const OwnerLimits = z.object({ owner_id: z.string(), ratelimits: z.array(NamedLimit) });

/** One aggregate of cached hits: a key, where it was used, how often, when. */
export const KeyUsageEntry = z
  .strictObject({
    key_id: z.string().min(1).max(100),
    count: z.number().int().min(1).max(MAX_USAGE_COUNT),
    endpoint: z.string().trim().min(1).max(200).optional(),
    project_id: z.string().min(1).max(100).optional(),
    ip: z.union([z.ipv4(), z.ipv6()]).optional(),
    outcome: z
      .enum(["valid", "scope_insufficient", "project_mismatch"])
      .optional()
      .describe("how the verifier answered these hits from its cache; default valid"),
    first_at: z.iso.datetime({ offset: true }).optional(),
    last_at: z.iso
      .datetime({ offset: true })
      .optional()
      .describe("the newest hit; default now. Moves last_used_at and the hourly bucket"),
  })
  .refine(
    (v) =>
      v.first_at === undefined ||
      v.last_at === undefined ||
      Date.parse(v.first_at) <= Date.parse(v.last_at),
    { message: "first_at must not be after last_at", path: ["first_at"] },
  );

/** `POST /v1/keys/usage`: cached hits a verifier reports, aggregated. */
export const KeyUsageReport = z.strictObject({
  uses: z.array(KeyUsageEntry).min(1).max(MAX_USAGE_ENTRIES),
});

export const KeyUsageAccepted = z.object({
  accepted: z.number().describe("entries counted"),
  ignored: z
    .number()
    .describe("entries not counted: an unknown or revoked key, or another project's"),
});

export const ProjectBody = z.strictObject({ name });
export const Project = z.object({ id: z.string(), name: z.string(), created_at: z.string() });
export const ProjectList = z.object({ projects: z.array(Project) });

export type CreateKeyBodyT = z.infer<typeof CreateKeyBody>;
export type KeyRecordT = z.infer<typeof KeyRecord>;
export type KeyListT = z.infer<typeof KeyList>;
export type KeyRecordFullT = z.infer<typeof KeyRecordFull>;
export type KeyCreatedT = z.infer<typeof KeyCreated>;
export type KeyDetailsT = z.infer<typeof KeyDetails>;
export type KeyUsageT = z.infer<typeof KeyUsage>;
export type KeyActivityEntryT = z.infer<typeof KeyActivityEntry>;
export type VerifyBodyT = z.infer<typeof VerifyBody>;
export type VerifyCodeT = z.infer<typeof VerifyCode>;
export type VerifyResponseT = z.infer<typeof VerifyResponse>;
export type VerifyLeaseT = z.infer<typeof VerifyLease>;
export type ProjectT = z.infer<typeof Project>;
export type NamedLimitT = z.infer<typeof NamedLimit>;
export type NamedLimitBodyT = z.infer<typeof NamedLimitBody>;
export type OwnerLimitsT = z.infer<typeof OwnerLimits>;
export type KeyUsageReportT = z.infer<typeof KeyUsageReport>;
export type KeyUsageAcceptedT = z.infer<typeof KeyUsageAccepted>;
export type ProjectListT = z.infer<typeof ProjectList>;
export type KeyActivityT = z.infer<typeof KeyActivity>;
