/**
 * Domain values (what services return) to wire shapes (SPEC §4): the one place the
 * translation happens. Routes call these; services never see the wire layer.
 */
import type { SessionInfo, SessionTokens } from "../services/accounts/sessions.js";
import type { User } from "../services/accounts/users.js";
import type { AuditRecord } from "../services/audit/audit.js";
import type { CheckResult } from "../services/keys/check.js";
import type { CachedKey } from "../services/keys/cache.js";
import type { Lease } from "../services/keys/lease.js";
import type { ApiKey, CreatedKey, KeyAt } from "../services/keys/model.js";
import type { KeyActivityEntry, KeyUsage } from "../services/keys/views.js";
import type { Principal } from "../services/principal.js";
import type { Project } from "../services/projects/projects.js";
import type { TotpSetup, TwoFactorState } from "../services/twofa/twofa.js";
import type { PasskeyView } from "../services/passkeys/passkeys.js";
import type { PasskeyT } from "./passkeys.js";
import type {
  KeyActivityEntryT,
  KeyActivityT,
  KeyCreatedT,
  KeyRecordFullT,
  KeyRecordT,
  KeyUsageT,
  ProjectT,
  VerifyLeaseT,
  VerifyResponseT,
} from "./keys.js";
import type { PortalSessionT } from "./portal.js";
import type {
  DeliveryDetails,
  DeliveryListRow,
  WebhookEndpointRow,
} from "../services/webhooks/endpoints.js";
import type { WebhookDeliveryDetailsT, WebhookDeliveryT, WebhookEndpointT } from "./webhooks.js";
import { isoOrNull as iso, keyStatus } from "../core/key-status.js";
import {
  formatWindow,
  refillOf,
  storedBalance,
  storedLimits,
  type StoredLimit,
} from "../core/credits.js";
import type { NamedLimitT, OwnerLimitsT } from "./keys.js";
import type { AuditEntryT, SessionT, TokenPairT, UserT, WhoamiT } from "./schemas.js";
import type { TwoFactorSetupResponseT, TwoFactorStatusT } from "./twofa.js";
import type { InvitationT, MemberT, OrgPolicyT, OrgT } from "./orgs.js";
import type { Org, OrgInvitation, OrgMember } from "../services/orgs/orgs.js";
import type { OrgRole } from "../core/org-roles.js";
import { formatDuration } from "../core/durations.js";

/** The listed fields of SPEC §4, plus status. Never the secret or its hash. */
export function toRecord(row: ApiKey, now: number): KeyRecordT {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    environment: row.environment === "test" ? "test" : "live",
    scopes: JSON.parse(row.scopes) as string[],
    project_id: row.project_id,
    created_at: iso(row.created_at)!,
    expires_at: iso(row.expires_at),
    last_used_at: iso(row.last_used_at),
    usage_count: Number(row.usage_count),
    revoked_at: iso(row.revoked_at),
    status: keyStatus(row, now),
    description: row.description,
    meta: metaOf(row.meta),
    enabled: row.disabled_at === null,
    disabled_at: iso(row.disabled_at),
    leaked_at: iso(row.leaked_at),
    leak_source: row.leak_source,
    remaining: storedBalance(row, now)?.remaining ?? null,
    refill: refillOf(row),
    ratelimits: storedLimits(row).map(toNamedLimit),
    org_id: row.owner_id.startsWith("org_") ? row.owner_id : null,
    created_by: row.created_by ?? null,
  };
}

/** A named limit as shown (key views, owner limits). */
export function toNamedLimit(limit: StoredLimit): NamedLimitT {
  const windowMs = Number(limit.window_ms);
  return {
    name: limit.name,
    limit: Number(limit.limit),
    window: formatWindow(windowMs),
    window_ms: windowMs,
    cost: Number(limit.cost),
  };
}

export function toOwnerLimits(ownerId: string, rows: StoredLimit[]): OwnerLimitsT {
  return { owner_id: ownerId, ratelimits: rows.map(toNamedLimit) };
}

/** A key's stored metadata (JSON text, written by us from a checked object). */
export function metaOf(text: string | null): Record<string, unknown> | null {
  return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
}

export function toFullRecord(row: ApiKey, now: number): KeyRecordFullT {
  return {
    ...toRecord(row, now),
    ip_allow: row.ip_allow ? (JSON.parse(row.ip_allow) as string[]) : null,
    rotated_from: row.rotated_from,
    parent_key_id: row.parent_key_id,
  };
}

/** A key as an operation (edit, revoke) left it. */
export function toKeyAt(value: KeyAt): KeyRecordFullT {
  return toFullRecord(value.row, value.at);
}

/** A key just made, with its secret (shown this once). */
export function toKeyCreated(created: CreatedKey): KeyCreatedT {
  return { ...toFullRecord(created.row, created.at), key: created.key };
}

export function toKeyUsage(usage: KeyUsage): KeyUsageT {
  return {
    by_endpoint: usage.byEndpoint,
    by_project: usage.byProject.map((r) => ({
      project_id: r.project_id === "" ? null : r.project_id,
      count: r.count,
    })),
    by_hour: usage.byHour.map((r) => ({ hour: iso(r.hour)!, count: r.count })),
  };
}

/** `GET /v1/api-keys/:id/activity`: a page of entries, the next cursor, the sampled count. */
export function toKeyActivity(
  rows: KeyActivityEntry[],
  limit: number,
  sampled: number,
): KeyActivityT {
  const activity = rows.map(toActivityEntry);
  const full = activity.length === limit;
  return { activity, next_before: full ? activity[activity.length - 1]!.id : null, sampled };
}

export function toActivityEntry(row: KeyActivityEntry): KeyActivityEntryT {
  return {
    id: row.id,
    at: iso(row.at)!,
    endpoint: row.endpoint,
    ip: row.ip,
    outcome: row.outcome,
    verified_by: row.verified_by,
    count: Number(row.count),
  };
}

export function toProject(project: Project): ProjectT {
  return { id: project.id, name: project.name, created_at: iso(project.created_at)! };
}

/** `POST /v1/keys/verify`'s answer; the one object the hot path allocates for it. */
/**
 * Scopes as a sorted list, made once per scope set (a key's effective scopes are one memoised
 * set, keys/check.ts) and shared by every answer about it: read-only to serialisers.
 */
const sortedScopes = new WeakMap<ReadonlySet<string>, string[]>();
function sorted(scopes: ReadonlySet<string>): string[] {
  let list = sortedScopes.get(scopes);
  if (!list) sortedScopes.set(scopes, (list = [...scopes].sort()));
  return list;
}

/** A cached key's expiry as ISO 8601, made once per cached row rather than a Date per answer. */
const expiries = new WeakMap<CachedKey, string | null>();
function expiryOf(key: CachedKey): string | null {
  let expiry = expiries.get(key);
  if (expiry === undefined) expiries.set(key, (expiry = iso(key.expiresAt)));
  return expiry;
}

export function toVerifyResponse(result: CheckResult): VerifyResponseT {
  const { key } = result;
  return {
    valid: result.code === "valid",
    code: result.code,
    key_id: key?.id ?? null,
    owner_id: key?.ownerId ?? null,
    org_id: key?.orgId ?? null,
    environment: key?.environment ?? null,
    // Empty for a refused key.
    scopes: sorted(result.scopes),
    project_id: key?.projectId ?? null,
    expires_at: key ? expiryOf(key) : null,
    ratelimit: result.ratelimit,
    meta: key?.meta ?? null,
    remaining: result.credits,
    ratelimits: result.ratelimits ?? NO_NAMED_LIMITS,
  };
}

/** Shared by every answer about a key without named limits: read-only to serialisers. */
const NO_NAMED_LIMITS: never[] = [];

/** A rate-limit lease granted with a verification (only when asked for). */
export function toLease(lease: Lease): VerifyLeaseT {
  return { granted: lease.granted, reset: lease.reset, reset_in: lease.resetIn };
}

// ---- accounts, sessions, 2FA, audit ----

/** A sign-in's or refresh's tokens (login, login/mfa, refresh). */
export function toTokenPair(tokens: SessionTokens): TokenPairT {
  return {
    access_token: tokens.accessToken,
    refresh_token: tokens.refreshToken,
    token_type: "Bearer",
    expires_in: tokens.accessTtlSeconds,
  };
}

/** The portal's answer to a sign-in or refresh: the tokens themselves travel as cookies. */
export function toPortalSession(tokens: SessionTokens): PortalSessionT {
  return { expires_in: tokens.accessTtlSeconds };
}

export function toPublicUser(user: User): UserT {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    staff: user.isStaff,
    service: user.isService,
    plan: user.plan,
    disabled: user.disabled,
    email_verified: user.emailVerified,
    created_at: iso(user.createdAt)!,
  };
}

export function toSession(session: SessionInfo): SessionT {
  return {
    id: session.id,
    created_at: iso(session.createdAt)!,
    last_used_at: iso(session.lastUsedAt)!,
    expires_at: iso(session.expiresAt)!,
    ip: session.ip,
    user_agent: session.userAgent,
    amr: session.amr,
    current: session.current,
  };
}

/** `GET /v1/auth/whoami`: the request's principal; scopes sorted. */
export function toWhoami(p: Principal): WhoamiT {
  return {
    user_id: p.user.id,
    email: p.user.email,
    email_verified: p.user.emailVerified,
    role: p.user.role,
    staff: p.user.isStaff,
    service: p.user.isService,
    plan: p.user.plan,
    credential_type: p.type,
    session_id: p.sessionId,
    key_id: p.key?.id ?? null,
    environment: p.key?.environment ?? null,
    project_id: p.key?.projectId ?? null,
    amr: p.amr,
    scopes: sorted(p.scopes),
    org_id: p.user.org ? p.user.id : null,
    orgs: p.user.orgs.map((o) => ({ id: o.id, name: o.name, role: o.role })),
  };
}

export function toTwoFactorSetup(setup: TotpSetup): TwoFactorSetupResponseT {
  return { secret: setup.secret, otpauth_url: setup.otpauthUrl, qr_svg: setup.qrSvg };
}

export function toTwoFactorStatus(state: TwoFactorState): TwoFactorStatusT {
  return {
    enabled: state.enabled,
    enabled_at: iso(state.enabledAt),
    pending: state.pending,
    backup_codes_remaining: state.backupCodesRemaining,
  };
}

export function toPasskey(view: PasskeyView): PasskeyT {
  return {
    id: view.id,
    name: view.name,
    created_at: iso(view.createdAt)!,
    last_used_at: iso(view.lastUsedAt),
    device_type: view.deviceType,
    backed_up: view.backedUp,
    transports: view.transports,
  };
}

export function toAuditEntry(record: AuditRecord): AuditEntryT {
  return {
    id: record.id,
    at: iso(record.at)!,
    event: record.event,
    user_id: record.userId,
    org_id: record.orgId,
    actor: record.actor,
    ip: record.ip,
    details: record.details,
  };
}

/** A webhook endpoint as the API shows it: never its secret. */
export function toWebhook(row: WebhookEndpointRow): WebhookEndpointT {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: JSON.parse(row.events) as string[],
    enabled: row.enabled === 1,
    disabled_reason: row.disabled_reason,
    failing_since: iso(row.failing_since),
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}

export function toDelivery(row: DeliveryListRow): WebhookDeliveryT {
  const status =
    row.delivered_at !== null ? "delivered" : row.failed_at !== null ? "failed" : "pending";
  return {
    id: row.id,
    event_id: row.event_id,
    type: row.type,
    status,
    attempts: Number(row.attempts),
    created_at: new Date(row.created_at).toISOString(),
    next_attempt_at: status === "pending" ? iso(row.next_attempt_at) : null,
    delivered_at: iso(row.delivered_at),
    failed_at: iso(row.failed_at),
    last_status: row.last_status,
    last_latency_ms: row.last_latency_ms,
    last_error: row.last_error,
  };
}

export function toDeliveryDetails(row: DeliveryDetails): WebhookDeliveryDetailsT {
  return {
    ...toDelivery(row),
    attempts_log: row.attempts_log.map((a) => ({
      attempt: a.attempt,
      at: new Date(a.at).toISOString(),
      status: a.status,
      latency_ms: a.latency_ms,
      error: a.error,
    })),
  };
}

// ---- organizations (issue 16) ----

/** An organization's policies as the API shows them. */
export function toOrgPolicy(row: Org): OrgPolicyT {
  const list = (text: string | null) => (text === null ? null : (JSON.parse(text) as string[]));
  return {
    max_key_lifetime:
      row.max_key_lifetime_ms === null ? null : formatDuration(Number(row.max_key_lifetime_ms)),
    require_2fa: row.require_2fa === 1,
    allowed_environments: list(row.allowed_environments) as ("live" | "test")[] | null,
    ip_allow: list(row.ip_allow),
    allowed_scopes: list(row.allowed_scopes),
  };
}

export function toOrg(row: Org, role: OrgRole | null, plan: string): OrgT {
  return {
    id: row.id,
    name: row.name,
    role,
    plan,
    created_at: iso(row.created_at)!,
    policy: toOrgPolicy(row),
  };
}

export function toMember(row: OrgMember): MemberT {
  return {
    user_id: row.user_id,
    email: row.email,
    role: row.role as OrgRole,
    has_2fa: row.has_2fa,
    joined_at: iso(row.created_at)!,
  };
}

/** A pending invitation: never its token (only the answer of its creation has that). */
export function toInvitation(row: OrgInvitation): InvitationT {
  return {
    id: row.id,
    org_id: row.org_id,
    email: row.email,
    role: row.role as OrgRole,
    created_at: iso(row.created_at)!,
    expires_at: iso(row.expires_at)!,
  };
}
