/** What the portal reads from the API (SPEC §2–§4), normalised where the wire allows variants. */

export interface Whoami {
  user_id: string;
  email: string;
  role: string;
  staff: boolean;
  plan: string;
  credential_type: "session" | "api_key";
  session_id: string | null;
  amr: string[];
  scopes: string[];
}

export type KeyStatus = "active" | "expired" | "revoked";

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  environment: "live" | "test";
  scopes: string[];
  project_id: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  usage_count: number;
  revoked_at: string | null;
  status: KeyStatus;
}

export interface Count {
  label: string;
  count: number;
}

export interface KeyUsage {
  byEndpoint: Count[];
  byProject: Count[];
  /** Hour starts (ms) with their call counts, oldest first. */
  byHour: { hour: number; count: number }[];
}

export interface Activity {
  at: string;
  endpoint: string;
  ip: string | null;
  outcome: string;
}

export interface Project {
  id: string;
  name: string;
}

export interface Session {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  amr: string[];
  current: boolean;
}

export interface AuditEntry {
  id: number;
  at: string;
  event: string;
  actor: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

export interface TwoFactorStatus {
  enabled: boolean;
  enabled_at: string | null;
  backup_codes_remaining: number;
}

export const PLAN_LIMITS: Record<string, number | null> = {
  free: 2,
  pro: 10,
  team: 50,
  enterprise: null,
};
