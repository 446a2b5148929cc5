/**
 * The wire contract: request and response shapes of the HTTP API. The server validates
 * with these and documents them in /openapi.json; the SDK takes its types from them.
 */
import { z } from "zod";
import { PLANS } from "../core/plans.js";
import { ROLES } from "../core/scopes.js";

const email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ message: "must be an email address" }));
// Length rules are checked by the account service, so that the message names the rule.
const password = z.string().min(1).max(1024);

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    request_id: z.string(),
    details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    required: z.array(z.string()).optional(),
    retry_after: z.number().optional(),
    wait_ticket: z
      .string()
      .optional()
      .describe("with rate_limited at sign-in: send it as wait_ticket after retry_after seconds"),
    mfa_token: z.string().optional(),
    methods: z
      .array(z.string())
      .optional()
      .describe(
        "with mfa_required: the second factors the account can use (totp, backup_code, passkey)",
      ),
  }),
});

/** The key-limit plans, from core/plans.ts (the one list). */
export const Plan = z.enum(PLANS);
/** The roles, from core/scopes.ts (the one list). */
export const Role = z.enum(ROLES);

export const User = z.object({
  id: z.string(),
  email: z.string(),
  role: Role,
  staff: z.boolean(),
  service: z
    .boolean()
    .describe(
      "a service account: may verify the platform's keys (keys:verify) and see leak-report outcomes (keys:report), set by staff",
    ),
  plan: Plan,
  disabled: z.boolean(),
  email_verified: z.boolean().describe("the address was proved by the link mailed at signup"),
  created_at: z.string(),
});

export const SignupBody = z.strictObject({ email, password });
export const SignupResponse = z.object({ user: User });

const totpCode = z
  .string()
  .trim()
  .regex(/^[0-9]{6}$/, "must be 6 digits");
const backupCode = z.string().trim().min(8).max(32);

export const LoginBody = z.strictObject({
  email,
  password,
  code: totpCode.optional(),
  backup_code: backupCode.optional(),
  wait_ticket: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe(
      "from a 429 rate_limited answer: sent once its retry_after has passed, the attempt is evaluated even while the account's back-off runs (single use)",
    ),
});
export const MfaLoginBody = z.strictObject({
  mfa_token: z.string().min(1).max(200),
  code: totpCode.optional(),
  backup_code: backupCode.optional(),
});

export const TokenPair = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.number(),
});

export const RefreshBody = z.strictObject({ refresh_token: z.string().min(1).max(200) });

export const Session = z.object({
  id: z.string(),
  created_at: z.string(),
  last_used_at: z.string(),
  expires_at: z.string(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  amr: z.array(z.string()),
  current: z.boolean(),
});
export const SessionList = z.object({ sessions: z.array(Session) });
/** How many sessions (refresh-token families) an action ended. */
export const SessionsEnded = z.object({ sessions_ended: z.number() });
export type SessionsEndedT = z.infer<typeof SessionsEnded>;

export const IdParams = z.strictObject({ id: z.string().min(1).max(100) });

export const Whoami = z.object({
  user_id: z.string(),
  email: z.string(),
  email_verified: z.boolean(),
  role: z.string(),
  staff: z.boolean(),
  service: z.boolean(),
  plan: z.string(),
  credential_type: z.enum(["session", "api_key"]),
  session_id: z.string().nullable(),
  key_id: z.string().nullable(),
  environment: z.enum(["live", "test"]).nullable(),
  project_id: z.string().nullable(),
  amr: z.array(z.string()),
  scopes: z.array(z.string()),
  org_id: z
    .string()
    .nullable()
    .describe("for an organization's key: the organization (then `user_id` is it too)"),
  orgs: z
    .array(
      z.object({
        id: z.string(),
        name: z.string(),
        role: z.enum(["owner", "admin", "member", "viewer"]),
      }),
    )
    .describe("the user's organizations and their role in each"),
});

export const AuditEntry = z.object({
  id: z.number(),
  at: z.string(),
  event: z.string(),
  user_id: z.string().nullable(),
  org_id: z.string().nullable().describe("the organization the event belongs to, if any"),
  actor: z.string().nullable(),
  ip: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export const AuditQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.coerce.number().int().positive().optional(),
  event: z.string().max(64).optional(),
  all: z.enum(["true", "false"]).optional(),
  format: z
    .enum(["json", "ndjson"])
    .optional()
    .describe(
      "ndjson: one entry per line (application/x-ndjson), newest first, for export; the next page's cursor is in the x-next-before header and a Link rel=next",
    ),
});
export const AuditList = z.object({
  events: z.array(AuditEntry),
  next_before: z.number().nullable(),
});

export const AdminUserPatch = z
  .strictObject({
    plan: Plan.optional(),
    role: Role.optional(),
    staff: z.boolean().optional(),
    service: z.boolean().optional(),
    disabled: z.boolean().optional(),
  })
  .refine((v) => Object.keys(v).length > 0, {
    message: "name at least one of plan, role, staff, service, disabled",
  });
export const AdminUserList = z.object({ users: z.array(User) });
export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export const NoContent = z.null().describe("No content");

export const Jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

export type UserT = z.infer<typeof User>;
export type AdminUserListT = z.infer<typeof AdminUserList>;
export type SessionListT = z.infer<typeof SessionList>;
export type AuditListT = z.infer<typeof AuditList>;
export type TokenPairT = z.infer<typeof TokenPair>;
export type SessionT = z.infer<typeof Session>;
export type WhoamiT = z.infer<typeof Whoami>;
export type AuditEntryT = z.infer<typeof AuditEntry>;
export type ErrorBodyT = z.infer<typeof ErrorBody>;
