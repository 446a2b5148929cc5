/**
 * What the portal reads from the API (SPEC §2–§4): the server's own wire types, imported as
 * types only (no zod reaches the browser bundle).
 */
export type {
  KeyActivityEntryT as Activity,
  KeyActivityT as KeyActivity,
  KeyCreatedT as CreatedKey,
  KeyDetailsT as KeyDetails,
  KeyListT as KeyList,
  KeyRecordT as ApiKey,
  KeyUsageT as KeyUsage,
  ProjectListT as ProjectList,
  ProjectT as Project,
} from "../../src/api/keys.js";
export type {
  AuditEntryT as AuditEntry,
  AuditListT as AuditList,
  SessionListT as SessionList,
  SessionT as Session,
  WhoamiT as Whoami,
} from "../../src/api/schemas.js";
export type {
  BackupCodesResponseT as BackupCodes,
  TwoFactorSetupResponseT as TwoFactorSetup,
  TwoFactorStatusT as TwoFactorStatus,
} from "../../src/api/twofa.js";
export type { PortalMetaT as PortalMeta } from "../../src/api/portal.js";
export type { PasskeyT as Passkey } from "../../src/api/passkeys.js";
export type { LeakPolicyT as LeakPolicy } from "../../src/api/leaks.js";
export type {
  WebhookCreatedT as CreatedWebhook,
  WebhookDeliveryDetailsT as DeliveryDetails,
  WebhookDeliveryT as Delivery,
  WebhookEndpointT as Webhook,
} from "../../src/api/webhooks.js";

/** `GET /v1/webhooks/event-types`: what an endpoint can subscribe to, with what each means. */
export interface EventType {
  type: string;
  description: string;
}

/** A labelled count, as the charts draw it (presentation, not wire). */
export interface Count {
  label: string;
  count: number;
}
export type {
  InvitationT as Invitation,
  MemberT as Member,
  OrgPolicyT as OrgPolicy,
  OrgT as Org,
} from "../../src/api/orgs.js";
