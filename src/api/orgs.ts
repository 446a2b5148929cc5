/**
 * Wire contract of organizations (issue 16, SPEC §10): organizations, members and roles,
 * invitations, policies. An invitation's token is in the answer of its creation only.
 */
import { z } from "zod";
import { parseDuration } from "../core/durations.js";
import { ORG_ROLES } from "../core/org-roles.js";
import { Environment } from "./keys.js";

export const OrgRole = z.enum(ORG_ROLES);
const name = z.string().trim().min(1, "must not be empty").max(100);

export const OrgParams = z.strictObject({ id: z.string().min(1).max(100) });
export const MemberParams = z.strictObject({
  id: z.string().min(1).max(100),
  user_id: z.string().min(1).max(100),
});
export const InvitationParams = z.strictObject({
  id: z.string().min(1).max(100),
  invitation_id: z.string().min(1).max(100),
});

export const CreateOrgBody = z.strictObject({ name });
export const OrgPatch = z.strictObject({ name });
export const DeleteOrgQuery = z.strictObject({
  revoke_keys: z
    .enum(["true", "false"])
    .optional()
    .describe("true: revoke the organization's active keys too (else 409 while any remain)"),
});

export const OrgPolicy = z.object({
  max_key_lifetime: z
    .string()
    .nullable()
    .describe("keys must expire within this (a duration such as 90d); null: no limit"),
  require_2fa: z
    .boolean()
    .describe("members without two-factor cannot use the organization until they enrol"),
  allowed_environments: z.array(Environment).nullable().describe("null: live and test"),
  ip_allow: z
    .array(z.string())
    .nullable()
    .describe("CIDR ranges every organization key must also be used from; null: any"),
  allowed_scopes: z
    .array(z.string())
    .nullable()
    .describe("the most an organization key may have (grants); null: every tenant scope"),
});

const lifetime = z
  .string()
  .max(16)
  .refine((v) => parseDuration(v) !== null, "a duration such as 30d, 90d, 1y");

export const OrgPolicyPatch = z
  .strictObject({
    max_key_lifetime: lifetime.nullable().optional(),
    require_2fa: z.boolean().optional(),
    allowed_environments: z.array(Environment).min(1).max(2).nullable().optional(),
    ip_allow: z.array(z.string().max(64)).min(1).max(64).nullable().optional(),
    allowed_scopes: z.array(z.string().trim().min(1).max(64)).min(1).max(64).nullable().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, { message: "nothing to change" })
  .describe("only the policies given change; null removes one (needs step-up)");

export const Org = z.object({
  id: z.string(),
  name: z.string(),
  role: OrgRole.nullable().describe("the caller's role; null for the organization's own key"),
  plan: z.string().describe("the organization's plan: its key limit counts its keys"),
  created_at: z.string(),
  policy: OrgPolicy,
});
export const OrgList = z.object({ orgs: z.array(Org) });
export const OrgDeleted = z.object({
  deleted: z.literal(true),
  keys_revoked: z.number(),
});

export const Member = z.object({
  user_id: z.string(),
  email: z.string(),
  role: OrgRole,
  has_2fa: z.boolean(),
  joined_at: z.string(),
});
export const MemberList = z.object({ members: z.array(Member) });
export const MemberPatch = z.strictObject({ role: OrgRole });

export const InvitationBody = z.strictObject({
  email: z.string().trim().toLowerCase().pipe(z.email()).describe("who may accept it"),
  role: OrgRole.default("member"),
});
export const Invitation = z.object({
  id: z.string(),
  org_id: z.string(),
  email: z.string(),
  role: OrgRole,
  created_at: z.string(),
  expires_at: z.string(),
});
export const InvitationCreated = Invitation.extend({
  token: z.string().describe("the one-time token: shown this once, stored hashed"),
  url: z.string().describe("the portal page that accepts it (also mailed to the address)"),
});
export const InvitationList = z.object({ invitations: z.array(Invitation) });
export const AcceptBody = z.strictObject({ token: z.string().min(1).max(200) });
export const Accepted = z.object({ org: Org });

export type OrgT = z.infer<typeof Org>;
export type OrgPolicyT = z.infer<typeof OrgPolicy>;
export type MemberT = z.infer<typeof Member>;
export type InvitationT = z.infer<typeof Invitation>;
