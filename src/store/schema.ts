import type { Generated } from "kysely";

/** Times are epoch milliseconds; booleans are 0/1; lists are JSON text. Same on both engines. */
export interface UsersTable {
  id: string;
  email: string;
  password_hash: string;
  role: string;
  is_staff: number;
  plan: string;
  disabled: number;
  /** Staff-granted: may verify the platform's keys (`keys:verify`) like a platform service. */
  is_service: number;
  created_at: number;
  updated_at: number;
}

/** A session is one refresh-token family: everything descended from one login. */
export interface SessionsTable {
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
}

export interface RefreshTokensTable {
  token_hash: string;
  session_id: string;
  created_at: number;
  expires_at: number;
  spent_at: number | null;
}

export interface TotpFactorsTable {
  user_id: string;
  secret_ciphertext: string;
  enabled_at: number | null;
  last_used_step: number | null;
  created_at: number;
}

export interface BackupCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

export interface MfaTokensTable {
  token_hash: string;
  user_id: string;
  ip: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface ProjectsTable {
  id: string;
  owner_id: string;
  name: string;
  created_at: number;
}

export interface ApiKeysTable {
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
}

/** Hourly usage buckets; `project_id` is '' when a call named no project. */
export interface KeyUsageTable {
  key_id: string;
  hour: number;
  endpoint: string;
  project_id: string;
  count: number;
}

export interface KeyActivityTable {
  id: Generated<number>;
  key_id: string;
  at: number;
  endpoint: string;
  ip: string | null;
  outcome: string;
  /** For `POST /v1/keys/verify`: the credential that asked (`key_…` or `usr_…`). */
  verified_by: string | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  user_id: string | null;
  actor: string | null;
  event: string;
  ip: string | null;
  details: string | null;
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
  audit_log: AuditLogTable;
}
