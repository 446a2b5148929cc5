import type { Generated } from "kysely";
import type {
  AccountTokenRow,
  ActivityRow,
  AuditRow,
  BackupCodeRow,
  KeyRow,
  LoginFailureRow,
  OrgInvitationRow,
  OrgMemberRow,
  OrgRow,
  MailRow,
  MfaTokenRow,
  ChallengeRow,
  PasskeyRow,
  OwnerLimitRow,
  ProjectRow,
  RefreshTokenRow,
  SessionRow,
  TotpFactorRow,
  UsageBucketRow,
  UserRow,
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookEndpointRow,
  WebhookEventRow,
} from "./port.js";

/**
 * Kysely's view of the tables: the port's records (store/port.ts), plus generated ids.
 * Times are epoch milliseconds; booleans are 0/1; lists are JSON text. Same on both engines.
 * Only store/ uses these types.
 */
export type UsersTable = UserRow;
export type SessionsTable = SessionRow;
export type RefreshTokensTable = RefreshTokenRow;
export type TotpFactorsTable = TotpFactorRow;
export type BackupCodesTable = BackupCodeRow;
export type MfaTokensTable = MfaTokenRow;
export type ProjectsTable = ProjectRow;
export type ApiKeysTable = KeyRow;
export type KeyUsageTable = UsageBucketRow;

export interface KeyActivityTable extends ActivityRow {
  id: Generated<number>;
}

export interface KeyActivitySampledTable {
  key_id: string;
  count: number;
}

export interface AuditLogTable extends AuditRow {
  id: Generated<number>;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  totp_factors: TotpFactorsTable;
  backup_codes: BackupCodesTable;
  mfa_tokens: MfaTokensTable;
  projects: ProjectsTable;
  api_keys: ApiKeysTable;
  key_usage: KeyUsageTable;
  key_activity: KeyActivityTable;
  key_activity_sampled: KeyActivitySampledTable;
  audit_log: AuditLogTable;
  account_tokens: AccountTokenRow;
  mail_outbox: MailRow;
  passkeys: PasskeyRow;
  webauthn_challenges: ChallengeRow;
  owner_ratelimits: OwnerLimitRow;
  login_failures: LoginFailureRow;
  webhook_endpoints: WebhookEndpointRow;
  webhook_events: WebhookEventRow;
  webhook_deliveries: WebhookDeliveryRow;
  webhook_attempts: WebhookAttemptsTable;
  orgs: OrgRow;
  org_members: OrgMemberRow;
  org_invitations: OrgInvitationRow;
}

export interface WebhookAttemptsTable extends WebhookAttemptRow {
  id: Generated<number>;
}
