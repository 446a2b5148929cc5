import type { Kysely } from "kysely";
import type {
  RefreshLookup,
  RefreshTokenRow,
  SessionLiveness,
  SessionRow,
  SessionStore,
} from "../port.js";
import type { Database } from "../schema.js";
import type { Transact } from "./index.js";

export class KyselySessions implements SessionStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly transact: Transact,
  ) {}

  start(session: SessionRow, token: RefreshTokenRow): Promise<void> {
    return this.transact(async (trx) => {
      await trx.insertInto("sessions").values(session).execute();
      await trx.insertInto("refresh_tokens").values(token).execute();
    });
  }

  byRefreshHash(tokenHash: string): Promise<RefreshLookup | undefined> {
    return this.db
      .selectFrom("refresh_tokens as t")
      .innerJoin("sessions as s", "s.id", "t.session_id")
      .innerJoin("users as u", "u.id", "s.user_id")
      .select([
        "t.session_id",
        "t.spent_at",
        "t.expires_at",
        "s.user_id",
        "s.amr",
        "s.ended_at",
        "s.absolute_expires_at",
        "s.idle_ms",
        "s.auth_time",
        "u.disabled",
      ])
      .where("t.token_hash", "=", tokenHash)
      .executeTakeFirst();
  }

  rotate(tokenHash: string, next: RefreshTokenRow, lastUsedAt: number): Promise<boolean> {
    return this.transact(async (trx) => {
      const result = await trx
        .updateTable("refresh_tokens")
        .set({ spent_at: lastUsedAt })
        .where("token_hash", "=", tokenHash)
        .where("spent_at", "is", null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      await trx.insertInto("refresh_tokens").values(next).execute();
      await trx
        .updateTable("sessions")
        .set({ last_used_at: lastUsedAt, expires_at: next.expires_at })
        .where("id", "=", next.session_id)
        .execute();
      return true;
    });
  }

  async reauthenticate(
    userId: string,
    sessionId: string,
    authTime: number,
    amr: string,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable("sessions")
      .set({ auth_time: authTime, amr })
      .where("id", "=", sessionId)
      .where("user_id", "=", userId)
      .where("ended_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async end(sessionId: string, at: number, reason: string): Promise<boolean> {
    const result = await this.db
      .updateTable("sessions")
      .set({ ended_at: at, end_reason: reason })
      .where("id", "=", sessionId)
      .where("ended_at", "is", null)
      .executeTakeFirst();
    await this.db
      .updateTable("refresh_tokens")
      .set({ spent_at: at })
      .where("session_id", "=", sessionId)
      .where("spent_at", "is", null)
      .execute();
    return Number(result.numUpdatedRows) === 1;
  }

  async isOwnOpen(userId: string, sessionId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("sessions")
      .select("id")
      .where("id", "=", sessionId)
      .where("user_id", "=", userId)
      .where("ended_at", "is", null)
      .executeTakeFirst();
    return row !== undefined;
  }

  liveness(sessionId: string): Promise<SessionLiveness | undefined> {
    return this.db
      .selectFrom("sessions")
      .select(["user_id", "ended_at", "absolute_expires_at"])
      .where("id", "=", sessionId)
      .executeTakeFirst();
  }

  endAllOf(userId: string, at: number, reason: string, keep: string | null): Promise<string[]> {
    return this.transact(async (trx) => {
      let query = trx
        .updateTable("sessions")
        .set({ ended_at: at, end_reason: reason })
        .where("user_id", "=", userId)
        .where("ended_at", "is", null);
      if (keep !== null) query = query.where("id", "!=", keep);
      const ended = (await query.returning("id").execute()).map((row) => row.id);
      if (ended.length > 0)
        await trx
          .updateTable("refresh_tokens")
          .set({ spent_at: at })
          .where("session_id", "in", ended)
          .where("spent_at", "is", null)
          .execute();
      return ended;
    });
  }

  listOpen(userId: string, now: number): Promise<SessionRow[]> {
    return this.db
      .selectFrom("sessions")
      .selectAll()
      .where("user_id", "=", userId)
      .where("ended_at", "is", null)
      .where("expires_at", ">", now)
      .orderBy("last_used_at", "desc")
      .execute();
  }
}
