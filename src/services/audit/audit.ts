import type { Deps } from "../deps.js";

export type AuditEvent =
  | "signup"
  | "login"
  | "login_failed"
  | "login_throttled"
  | "logout"
  | "session_ended"
  | "sessions_ended_by_staff"
  | "refresh_token_reused"
  | "2fa_enabled"
  | "2fa_disabled"
  | "2fa_failed_code"
  | "2fa_locked"
  | "password_login_suspended"
  | "backup_code_used"
  | "backup_codes_regenerated"
  | "key_created"
  | "key_edited"
  | "key_disabled"
  | "key_enabled"
  | "key_rotated"
  | "key_revoked"
  | "key_refused"
  | "key_leaked"
  | "project_created"
  | "user_updated"
  | "email_verified"
  | "email_verification_sent"
  | "password_changed"
  | "password_reset_requested"
  | "password_reset"
  | "reauthenticated"
  | "email_change_requested"
  | "email_changed"
  | "passkey_added"
  | "passkey_renamed"
  | "passkey_removed"
  // Issue 20: a key's credits fell to LATCHKEY_CREDITS_LOW_THRESHOLD; staff changed owner limits.
  | "key_credits_low"
  | "owner_limits_set";

export interface AuditInput {
  event: AuditEvent;
  userId: string | null;
  /** Who acted: `session:<id>`, `key:<id>`, or null for anonymous. Never a secret. */
  actor?: string | null;
  ip?: string | null;
  details?: Record<string, unknown>;
}

/** One recorded event, as listed. `id` orders the log (newest is highest); `at` is epoch ms. */
export interface AuditRecord {
  id: number;
  at: number;
  /** An AuditEvent name, as stored. */
  event: string;
  userId: string | null;
  actor: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

export class AuditLog {
  constructor(private readonly deps: Deps) {}

  async record(input: AuditInput): Promise<void> {
    await this.deps.store.audit.insert({
      at: this.deps.now(),
      user_id: input.userId,
      actor: input.actor ?? null,
      event: input.event,
      ip: input.ip ?? null,
      details: input.details ? JSON.stringify(input.details) : null,
    });
  }

  /** Newest first. `userId` null lists every user's events (staff). */
  async list(options: {
    userId: string | null;
    limit: number;
    before?: number;
    event?: string;
  }): Promise<AuditRecord[]> {
    const rows = await this.deps.store.audit.list(options);
    return rows.map((row) => ({
      id: row.id,
      at: row.at,
      event: row.event,
      userId: row.user_id,
      actor: row.actor,
      ip: row.ip,
      details: row.details ? (JSON.parse(row.details) as Record<string, unknown>) : {},
    }));
  }
}
