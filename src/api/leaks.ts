/**
 * Wire contract of leak reports (SPEC §11): `POST /v1/keys/leaks`. Anyone may report; only
 * a caller with `keys:report` learns what became of each key.
 */
import { z } from "zod";

/** Bounds of one report: candidates per call, and the lengths of what comes with each. */
export const MAX_LEAK_BATCH = 100;
export const MAX_LEAK_KEY_LENGTH = 128;
export const MAX_LEAK_URL_LENGTH = 2048;
export const MAX_LEAK_SOURCE_LENGTH = 200;

export const LEAK_OUTCOMES = [
  "revoked",
  "already_revoked",
  "quarantined",
  "already_quarantined",
  "unknown",
  "invalid_checksum",
] as const;
export type LeakOutcome = (typeof LEAK_OUTCOMES)[number];

export const LeakCandidate = z.strictObject({
  key: z.string().min(1).max(MAX_LEAK_KEY_LENGTH).describe("the string that looks like a key"),
  url: z
    .url({ protocol: /^https?$/ })
    .max(MAX_LEAK_URL_LENGTH)
    .optional()
    .describe("where it was seen (http or https), told to the key's owner"),
  source: z
    .string()
    .trim()
    .min(1)
    .max(MAX_LEAK_SOURCE_LENGTH)
    .optional()
    .describe("who or what found it, e.g. a scanner's name"),
});

export const LeakReportBody = z.strictObject({
  keys: z.array(LeakCandidate).min(1, "report at least one key").max(MAX_LEAK_BATCH),
});

export const LeakResult = z.object({
  index: z.number().int().nonnegative().describe("the candidate's position in `keys`"),
  prefix: z.string().describe("the candidate's first 12 characters; the key is never echoed"),
  outcome: z.enum(LEAK_OUTCOMES),
});

export const LeakReceipt = z.object({
  received: z.number().int().nonnegative().describe("how many candidates the report carried"),
  results: z
    .array(LeakResult)
    .optional()
    .describe("per candidate, only for a caller with keys:report"),
});

export const LEAK_POLICIES = ["revoke", "quarantine"] as const;

export const LeakPolicy = z.object({
  policy: z
    .enum(LEAK_POLICIES)
    .describe(
      "revoke (default): a reported key is revoked at once; quarantine: refused as key_leaked until you release it (PATCH enabled: true) or revoke it",
    ),
});

export type LeakPolicyT = z.infer<typeof LeakPolicy>;
export type LeakReportBodyT = z.infer<typeof LeakReportBody>;
export type LeakResultT = z.infer<typeof LeakResult>;
export type LeakReceiptT = z.infer<typeof LeakReceipt>;
