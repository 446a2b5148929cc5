import { actorOf } from "../../core/actor.js";
import { LatchkeyError } from "../../core/errors.js";
import { newId, newSecret } from "../../infra/ids.js";
import { sha256 } from "../../infra/secrets.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";

/** What a sign-in or a refresh hands the client: a bearer access token and its refresh token. */
export interface SessionTokens {
  /** A signed JWT naming the user and the session. */
  accessToken: string;
  /** Opaque and single use (only its SHA-256 is stored). */
  refreshToken: string;
  /** How long the access token lives, in seconds (the signer's TTL). */
  accessTtlSeconds: number;
}

/** One of a user's open sessions, as the user may see it. Times are epoch milliseconds. */
export interface SessionInfo {
  id: string;
  createdAt: number;
  lastUsedAt: number;
  /** When the current refresh token expires (idle limit or absolute end, whichever is sooner). */
  expiresAt: number;
  ip: string | null;
  userAgent: string | null;
  amr: string[];
  /** The session the asking credential belongs to. */
  current: boolean;
}

interface SessionState {
  userId: string;
  active: boolean;
  /** The session's absolute end (epoch ms); Infinity for rows without one. */
  endsAt: number;
}

const CACHE_LIMIT = 50_000;

/**
 * Sessions are refresh-token families. Refresh tokens are opaque, stored as SHA-256,
 * single use; presenting a spent one ends the whole family (SPEC §2).
 *
 * Each session has an absolute end (sign-in + LATCHKEY_SESSION_MAX_AGE) and an idle limit
 * (LATCHKEY_SESSION_IDLE), both recorded at sign-in: a refresh token lives until the idle
 * limit or the absolute end, whichever is sooner, so refreshing never outlives the end.
 */
/**
 * Ends every session of the user but `keep` (ASVS session termination: after a change to how
 * they sign in), through the path that stops ended sessions here at once and, by the bus and
 * the revocation stream, on other instances and at SDK verifiers. The ended sessions' ids.
 */
export async function endOtherSessions(
  deps: Deps,
  userId: string,
  keep: string | null,
  reason: string,
): Promise<string[]> {
  const ended = await deps.store.sessions.endAllOf(userId, deps.now(), reason, keep);
  for (const sessionId of ended) await deps.bus.publish({ type: "session_ended", sessionId });
  return ended;
}

export class Sessions {
  private readonly cache = new Map<string, SessionState>();

  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
  ) {
    deps.bus.subscribe((event) => {
      if (event.type === "session_ended") this.cache.delete(event.sessionId);
    });
  }

  async start(input: {
    userId: string;
    amr: string[];
    ip: string | null;
    userAgent: string | null;
  }): Promise<SessionTokens> {
    const now = this.deps.now();
    const sessionId = newId(this.deps.random, "ses");
    const refreshToken = newSecret(this.deps.random, "lkr");
    const { sessionIdleMs, sessionMaxAgeMs } = this.deps.config;
    const absoluteEnd = now + sessionMaxAgeMs;
    const tokenEnd = Math.min(now + sessionIdleMs, absoluteEnd);
    await this.deps.store.sessions.start(
      {
        id: sessionId,
        user_id: input.userId,
        amr: JSON.stringify(input.amr),
        ip: input.ip,
        user_agent: input.userAgent?.slice(0, 256) ?? null,
        created_at: now,
        last_used_at: now,
        expires_at: tokenEnd,
        ended_at: null,
        end_reason: null,
        absolute_expires_at: absoluteEnd,
        idle_ms: sessionIdleMs,
        auth_time: now,
      },
      {
        token_hash: sha256(refreshToken),
        session_id: sessionId,
        created_at: now,
        expires_at: tokenEnd,
        spent_at: null,
      },
    );
    return this.pair(input.userId, sessionId, input.amr, now, refreshToken);
  }

  private async pair(
    userId: string,
    sessionId: string,
    amr: string[],
    authTime: number,
    refreshToken: string,
  ): Promise<SessionTokens> {
    const accessToken = await this.deps.tokens.sign({ userId, sessionId, amr, authTime });
    return { accessToken, refreshToken, accessTtlSeconds: this.deps.tokens.ttlSeconds };
  }

  /**
   * The person behind an open session proved who they are again (step-up): the session's
   * auth time becomes now, so this access token and every one its refresh token yields
   * carry it. Null when the session has ended or is not the user's.
   */
  async reauthenticated(
    userId: string,
    sessionId: string,
    amr: string[],
  ): Promise<{ accessToken: string; accessTtlSeconds: number; authTime: number } | null> {
    const now = this.deps.now();
    if (!(await this.isActive(sessionId, userId))) return null;
    const stored = await this.deps.store.sessions.reauthenticate(
      userId,
      sessionId,
      now,
      JSON.stringify(amr),
    );
    if (!stored) return null;
    const accessToken = await this.deps.tokens.sign({ userId, sessionId, amr, authTime: now });
    return { accessToken, accessTtlSeconds: this.deps.tokens.ttlSeconds, authTime: now };
  }

  async refresh(refreshToken: string, ip: string | null): Promise<SessionTokens> {
    const now = this.deps.now();
    const tokenHash = sha256(refreshToken);
    const row = await this.deps.store.sessions.byRefreshHash(tokenHash);
    if (!row) throw new LatchkeyError("token_invalid", "refresh token is not valid");
    if (row.spent_at !== null) return this.reused(row.session_id, row.user_id, ip);
    if (row.ended_at !== null || row.disabled === 1)
      throw new LatchkeyError("token_invalid", "session has ended");
    const absoluteEnd = row.absolute_expires_at ?? Infinity;
    if (absoluteEnd <= now)
      throw new LatchkeyError(
        "token_expired",
        "the session has reached its maximum age; sign in again",
      );
    if (row.expires_at <= now)
      throw new LatchkeyError("token_expired", "refresh token has expired");

    const next = newSecret(this.deps.random, "lkr");
    const idleMs = row.idle_ms ?? this.deps.config.sessionIdleMs;
    const tokenEnd = Math.min(now + idleMs, absoluteEnd);
    const spent = await this.deps.store.sessions.rotate(
      tokenHash,
      {
        token_hash: sha256(next),
        session_id: row.session_id,
        created_at: now,
        expires_at: tokenEnd,
        spent_at: null,
      },
      now,
    );
    // Lost the race for this token: it was spent a moment ago, so this is a reuse.
    if (!spent) return this.reused(row.session_id, row.user_id, ip);
    // A refresh keeps the session's auth time: it proves possession, not the person.
    // (0 for a row without one: the next sensitive action asks to reauthenticate.)
    const amr = JSON.parse(row.amr) as string[];
    return this.pair(row.user_id, row.session_id, amr, row.auth_time ?? 0, next);
  }

  private async reused(sessionId: string, userId: string, ip: string | null): Promise<never> {
    await this.end(sessionId, "refresh_token_reused");
    await this.audit.record({
      event: "refresh_token_reused",
      userId,
      actor: actorOf({ sessionId }),
      ip,
      details: { session_id: sessionId },
    });
    throw new LatchkeyError(
      "refresh_token_reused",
      "refresh token was already used; the session has been ended",
    );
  }

  /** Ends a session (its whole refresh-token family); access tokens stop working at once. */
  async end(sessionId: string, reason: string): Promise<boolean> {
    const ended = await this.deps.store.sessions.end(sessionId, this.deps.now(), reason);
    await this.deps.bus.publish({ type: "session_ended", sessionId });
    return ended;
  }

  /** Ends one of the user's sessions; false when it is not theirs or already ended. */
  async endOwn(userId: string, sessionId: string, reason: string): Promise<boolean> {
    if (!(await this.deps.store.sessions.isOwnOpen(userId, sessionId))) return false;
    return this.end(sessionId, reason);
  }

  /** Whether an access token's session is still live (cached; dropped when it ends). */
  async isActive(sessionId: string, userId: string): Promise<boolean> {
    const cached = this.cache.get(sessionId);
    if (cached) return isLive(cached, userId, this.deps.now());
    const row = await this.deps.store.sessions.liveness(sessionId);
    const state: SessionState = {
      userId: row?.user_id ?? "",
      active: !!row && row.ended_at === null,
      endsAt: row?.absolute_expires_at ?? Infinity,
    };
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(sessionId, state);
    return isLive(state, userId, this.deps.now());
  }

  async list(userId: string, currentSessionId: string | null): Promise<SessionInfo[]> {
    const now = this.deps.now();
    const rows = await this.deps.store.sessions.listOpen(userId, now);
    return rows.map((row) => ({
      id: row.id,
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
      expiresAt: row.expires_at,
      ip: row.ip,
      userAgent: row.user_agent,
      amr: JSON.parse(row.amr) as string[],
      current: row.id === currentSessionId,
    }));
  }
}

/** An access token's session: not ended, the token's user, and before its absolute end. */
function isLive(state: SessionState, userId: string, now: number): boolean {
  return state.active && state.userId === userId && now < state.endsAt;
}
