import type { Context } from "../context.js";

export type AuditEvent =
  | "signup"
  | "login"
  | "login_failed"
  | "login_throttled"
  | "logout"
  | "session_ended"
  | "refresh_token_reused"
  | "2fa_enabled"
  | "2fa_disabled"
  | "2fa_failed_code"
  | "2fa_locked"
  | "backup_code_used"
  | "backup_codes_regenerated"
  | "key_created"
  | "key_edited"
  | "key_rotated"
  | "key_revoked"
  | "key_refused"
  | "project_created"
  | "user_updated";

export interface AuditInput {
  event: AuditEvent;
  userId: string | null;
  /** Who acted: `session:<id>`, `key:<id>`, or null for anonymous. Never a secret. */
  actor?: string | null;
  ip?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditEntry {
  id: number;
  at: string;
  event: string;
  user_id: string | null;
  actor: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

export class AuditLog {
  constructor(private readonly ctx: Context) {}

  async record(input: AuditInput): Promise<void> {
    await this.ctx.db
      .insertInto("audit_log")
      .values({
        at: this.ctx.now(),
        user_id: input.userId,
        actor: input.actor ?? null,
        event: input.event,
        ip: input.ip ?? null,
        details: input.details ? JSON.stringify(input.details) : null,
      })
      .execute();
  }

  /** Newest first. `userId` null lists every user's events (staff). */
  async list(options: {
    userId: string | null;
    limit: number;
    before?: number;
    event?: string;
  }): Promise<AuditEntry[]> {
    let query = this.ctx.db
      .selectFrom("audit_log")
      .selectAll()
      .orderBy("id", "desc")
      .limit(options.limit);
    if (options.userId !== null) query = query.where("user_id", "=", options.userId);
    if (options.before !== undefined) query = query.where("id", "<", options.before);
    if (options.event !== undefined) query = query.where("event", "=", options.event);
    const rows = await query.execute();
    return rows.map((row) => ({
      id: Number(row.id),
      at: new Date(row.at).toISOString(),
      event: row.event,
      user_id: row.user_id,
      actor: row.actor,
      ip: row.ip,
      details: row.details ? (JSON.parse(row.details) as Record<string, unknown>) : {},
    }));
  }
}
