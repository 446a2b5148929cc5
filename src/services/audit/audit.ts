import type { WebhookEventType } from "../../core/webhook-events.js";
import type { Store } from "../../store/port.js";
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
  | "owner_limits_set"
  // Issue 17: webhook endpoints and their deliveries; an owner's leak policy.
  | "webhook_endpoint_created"
  | "webhook_endpoint_updated"
  | "webhook_endpoint_deleted"
  | "webhook_endpoint_disabled"
  | "webhook_redelivered"
  | "leak_policy_set"
  // Issue 18: the host's operator rotated, re-encrypted under or retired a master key
  // (written by `latchkey admin rotate-master-key`, with no user and no actor).
  | "master_key_rotated"
  | "master_key_reencrypted"
  | "master_key_retired"
  // Issue 16: organizations, their members, invitations and policies.
  | "org_created"
  | "org_renamed"
  | "org_deleted"
  | "org_policy_set"
  | "org_invitation_created"
  | "org_invitation_revoked"
  | "org_invitation_accepted"
  | "org_member_role_changed"
  | "org_member_removed"
  | "org_member_left";

export interface AuditInput {
  event: AuditEvent;
  userId: string | null;
  /**
   * The organization the event belongs to. Unset: the subject's, when the subject
   * (`userId`) is an organization's account (ids `org_…`), else none.
   */
  orgId?: string | null;
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
  orgId: string | null;
  actor: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

/** What turns some audit entries into webhook events (services/webhooks/events.ts). */
export interface AuditPublisher {
  fromAudit(input: AuditInput): WebhookEventType | null;
  publishAudit(tx: Store, type: WebhookEventType, input: AuditInput): Promise<void>;
  committed(): void;
}

export class AuditLog {
  private publisher: AuditPublisher | null = null;

  constructor(private readonly deps: Deps) {}

  /** Set once by createServices: entries that are webhook events are published with them. */
  publishWith(publisher: AuditPublisher): void {
    this.publisher = publisher;
  }

  async record(input: AuditInput): Promise<void> {
    const type = this.publisher?.fromAudit(input) ?? null;
    if (type === null) {
      await this.insert(this.deps.store, input);
      return;
    }
    // The entry and its webhook event commit together: one exists exactly when the other does.
    const publisher = this.publisher!;
    await this.deps.store.transaction(async (tx) => {
      await this.insert(tx, input);
      await publisher.publishAudit(tx, type, input);
    });
    publisher.committed();
  }

  private async insert(store: Store, input: AuditInput): Promise<void> {
    await store.audit.insert({
      at: this.deps.now(),
      user_id: input.userId,
      actor: input.actor ?? null,
      event: input.event,
      ip: input.ip ?? null,
      details: input.details ? JSON.stringify(input.details) : null,
      org_id: input.orgId ?? (input.userId?.startsWith("org_") ? input.userId : null),
    });
  }

  /** Newest first. `userId` null lists every user's events (staff). */
  async list(options: {
    userId: string | null;
    limit: number;
    before?: number;
    event?: string;
    orgId?: string;
  }): Promise<AuditRecord[]> {
    const rows = await this.deps.store.audit.list(options);
    return rows.map((row) => ({
      id: row.id,
      at: row.at,
      event: row.event,
      userId: row.user_id,
      orgId: row.org_id ?? null,
      actor: row.actor,
      ip: row.ip,
      details: row.details ? (JSON.parse(row.details) as Record<string, unknown>) : {},
    }));
  }
}
