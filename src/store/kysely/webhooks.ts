import type { Kysely } from "kysely";
import type { EngineTraits } from "../engines.js";
import type {
  DeliveryListRow,
  DueDelivery,
  ExpiringKeyRow,
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookEndpointPatch,
  WebhookEndpointRow,
  WebhookEventRow,
  WebhookStore,
} from "../port.js";
import type { Database } from "../schema.js";
import type { Transact } from "./index.js";
import { claimDue, type OutboxTable } from "./outbox-claim.js";

const ERROR_MAX = 500;
const DELIVERIES: OutboxTable = {
  table: "webhook_deliveries",
  ended: ["delivered_at", "failed_at"],
};

export class KyselyWebhooks implements WebhookStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly traits: EngineTraits,
    private readonly transact: Transact,
  ) {}

  async insertEndpoint(row: WebhookEndpointRow): Promise<void> {
    await this.db.insertInto("webhook_endpoints").values(row).execute();
  }

  endpoint(id: string): Promise<WebhookEndpointRow | undefined> {
    return this.db
      .selectFrom("webhook_endpoints")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
  }

  endpointsOf(ownerId: string): Promise<WebhookEndpointRow[]> {
    return this.db
      .selectFrom("webhook_endpoints")
      .selectAll()
      .where("owner_id", "=", ownerId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
  }

  async updateEndpoint(id: string, patch: WebhookEndpointPatch): Promise<boolean> {
    const result = await this.db
      .updateTable("webhook_endpoints")
      .set(patch)
      .where("id", "=", id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("webhook_endpoints")
      .where("id", "=", id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async hasEndpoints(ownerId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("webhook_endpoints")
      .select("id")
      .where("owner_id", "=", ownerId)
      .where("enabled", "=", 1)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async insertEvent(row: WebhookEventRow): Promise<boolean> {
    const result = await this.db
      .insertInto("webhook_events")
      .values(row)
      .onConflict((oc) => oc.column("dedup_key").doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async insertDeliveries(rows: WebhookDeliveryRow[]): Promise<void> {
    if (rows.length > 0) await this.db.insertInto("webhook_deliveries").values(rows).execute();
  }

  async claim(now: number, leaseUntil: number, limit: number): Promise<DueDelivery[]> {
    const claimed = await claimDue<WebhookDeliveryRow>(
      this.db,
      this.traits,
      DELIVERIES,
      now,
      leaseUntil,
      limit,
    );
    if (claimed.length === 0) return [];
    const ids = claimed.map((row) => row.id);
    const rows = await this.db
      .selectFrom("webhook_deliveries as d")
      .innerJoin("webhook_events as e", "e.id", "d.event_id")
      .innerJoin("webhook_endpoints as w", "w.id", "d.endpoint_id")
      .selectAll("d")
      .select([
        "w.url",
        "w.secret_sealed",
        "w.failing_since",
        "w.enabled",
        "w.owner_id",
        "e.type",
        "e.payload",
      ])
      .where("d.id", "in", ids)
      .orderBy("d.next_attempt_at")
      .orderBy("d.id")
      .execute();
    return rows.map((row) => ({ ...row, attempts: Number(row.attempts) }));
  }

  finish(
    id: string,
    attempt: WebhookAttemptRow,
    outcome: { delivered: boolean; nextAttemptAt: number | null },
  ): Promise<boolean> {
    const error = attempt.error === null ? null : attempt.error.slice(0, ERROR_MAX);
    return this.transact(async (trx) => {
      const last = {
        lease_until: null,
        last_status: attempt.status,
        last_latency_ms: attempt.latency_ms,
        last_error: error,
      };
      const result = await trx
        .updateTable("webhook_deliveries")
        .set(
          outcome.delivered
            ? { ...last, delivered_at: attempt.at }
            : outcome.nextAttemptAt === null
              ? { ...last, failed_at: attempt.at }
              : { ...last, next_attempt_at: outcome.nextAttemptAt },
        )
        .where("id", "=", id)
        .where("attempts", "=", attempt.attempt)
        .where("delivered_at", "is", null)
        .where("failed_at", "is", null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      await trx
        .insertInto("webhook_attempts")
        .values({ ...attempt, error })
        .execute();
      return true;
    });
  }

  async abandonPending(endpointId: string, at: number, reason: string): Promise<number> {
    const result = await this.db
      .updateTable("webhook_deliveries")
      .set({ failed_at: at, lease_until: null, last_error: reason.slice(0, ERROR_MAX) })
      .where("endpoint_id", "=", endpointId)
      .where("delivered_at", "is", null)
      .where("failed_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  delivery(id: string): Promise<DeliveryListRow | undefined> {
    return this.db
      .selectFrom("webhook_deliveries as d")
      .innerJoin("webhook_events as e", "e.id", "d.event_id")
      .selectAll("d")
      .select("e.type")
      .where("d.id", "=", id)
      .executeTakeFirst();
  }

  async deliveries(
    endpointId: string,
    options: { limit: number; before?: string },
  ): Promise<DeliveryListRow[]> {
    // Newest first; `before` (a delivery id) is a cursor: the rows after it in that order.
    let query = this.db
      .selectFrom("webhook_deliveries as d")
      .innerJoin("webhook_events as e", "e.id", "d.event_id")
      .selectAll("d")
      .select("e.type")
      .where("d.endpoint_id", "=", endpointId);
    if (options.before !== undefined) {
      const cursor = await this.db
        .selectFrom("webhook_deliveries")
        .select(["id", "created_at"])
        .where("id", "=", options.before)
        .where("endpoint_id", "=", endpointId)
        .executeTakeFirst();
      if (!cursor) return [];
      query = query.where((eb) =>
        eb.or([
          eb("d.created_at", "<", cursor.created_at),
          eb.and([eb("d.created_at", "=", cursor.created_at), eb("d.id", "<", cursor.id)]),
        ]),
      );
    }
    return query
      .orderBy("d.created_at", "desc")
      .orderBy("d.id", "desc")
      .limit(options.limit)
      .execute();
  }

  async attempts(deliveryId: string): Promise<WebhookAttemptRow[]> {
    return this.db
      .selectFrom("webhook_attempts")
      .select(["delivery_id", "attempt", "at", "status", "latency_ms", "error"])
      .where("delivery_id", "=", deliveryId)
      .orderBy("id")
      .execute();
  }

  expiringKeys(from: number, to: number, limit: number): Promise<ExpiringKeyRow[]> {
    return this.db
      .selectFrom("api_keys as k")
      .select(["k.id", "k.owner_id", "k.name", "k.prefix", "k.environment", "k.expires_at"])
      .where("k.revoked_at", "is", null)
      .where("k.expires_at", ">=", from)
      .where("k.expires_at", "<", to)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom("webhook_endpoints as w")
            .select("w.id")
            .whereRef("w.owner_id", "=", "k.owner_id")
            .where("w.enabled", "=", 1),
        ),
      )
      .orderBy("k.expires_at")
      .limit(limit)
      .execute() as Promise<ExpiringKeyRow[]>;
  }

  async seenDedupKeys(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.db
      .selectFrom("webhook_events")
      .select("dedup_key")
      .where("dedup_key", "in", keys)
      .execute();
    return new Set(rows.map((row) => row.dedup_key!));
  }

  async prune(before: number): Promise<number> {
    const result = await this.db
      .deleteFrom("webhook_events")
      .where("created_at", "<", before)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom("webhook_deliveries as d")
              .select("d.id")
              .whereRef("d.event_id", "=", "webhook_events.id")
              .where("d.delivered_at", "is", null)
              .where("d.failed_at", "is", null),
          ),
        ),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
