import type { Kysely } from "kysely";
import type { KeyPatch, KeyRow, KeyStore } from "../port.js";
import type { Database } from "../schema.js";

export class KyselyKeys implements KeyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: KeyRow): Promise<void> {
    await this.db.insertInto("api_keys").values(row).execute();
  }

  /** The hot path's one query (on a cache miss): no await of its own. */
  byHash(keyHash: string): Promise<KeyRow | undefined> {
    return this.db
      .selectFrom("api_keys")
      .selectAll()
      .where("key_hash", "=", keyHash)
      .executeTakeFirst();
  }

  async byIds(ids: string[]): Promise<KeyRow[]> {
    if (ids.length === 0) return [];
    return this.db.selectFrom("api_keys").selectAll().where("id", "in", ids).execute();
  }

  owned(id: string, ownerId: string): Promise<KeyRow | undefined> {
    return this.db
      .selectFrom("api_keys")
      .selectAll()
      .where("id", "=", id)
      .where("owner_id", "=", ownerId)
      .executeTakeFirst();
  }

  listByOwner(ownerId: string): Promise<KeyRow[]> {
    return this.db
      .selectFrom("api_keys")
      .selectAll()
      .where("owner_id", "=", ownerId)
      .orderBy("created_at", "desc")
      .orderBy("id", "asc")
      .execute();
  }

  activeOf(ownerId: string, now: number): Promise<{ id: string; rotated_from: string | null }[]> {
    return this.db
      .selectFrom("api_keys")
      .select(["id", "rotated_from"])
      .where("owner_id", "=", ownerId)
      .where("revoked_at", "is", null)
      .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]))
      .execute();
  }

  async descendants(roots: string[]): Promise<KeyRow[]> {
    const found: KeyRow[] = [];
    const seen = new Set(roots);
    let frontier = roots;
    while (frontier.length > 0) {
      const rows = await this.db
        .selectFrom("api_keys")
        .selectAll()
        .where("parent_key_id", "in", frontier)
        .where("revoked_at", "is", null)
        .execute();
      frontier = [];
      for (const row of rows) {
        if (seen.has(row.id)) continue;
        seen.add(row.id);
        found.push(row);
        frontier.push(row.id);
      }
    }
    return found;
  }

  async update(id: string, patch: KeyPatch): Promise<void> {
    await this.db.updateTable("api_keys").set(patch).where("id", "=", id).execute();
  }

  async revoke(ids: string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable("api_keys")
      .set({ revoked_at: at })
      .where("id", "in", ids)
      .where("revoked_at", "is", null)
      .execute();
  }

  async setExpiry(ids: string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.updateTable("api_keys").set({ expires_at: at }).where("id", "in", ids).execute();
  }
}
