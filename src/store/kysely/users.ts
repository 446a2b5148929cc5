import { sql, type Kysely } from "kysely";
import type { EngineTraits } from "../engines.js";
import { DuplicateError, type UserPatch, type UserRow, type UserStore } from "../port.js";
import type { Database } from "../schema.js";

export class KyselyUsers implements UserStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly traits: EngineTraits,
  ) {}

  async any(): Promise<boolean> {
    const row = await this.db.selectFrom("users").select("id").limit(1).executeTakeFirst();
    return row !== undefined;
  }

  async insert(row: UserRow): Promise<void> {
    try {
      await this.db.insertInto("users").values(row).execute();
    } catch (error) {
      if (this.traits.isUniqueViolation(error)) throw new DuplicateError(error);
      throw error;
    }
  }

  byId(id: string): Promise<UserRow | undefined> {
    return this.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
  }

  byEmail(email: string): Promise<UserRow | undefined> {
    // An organization's account has no address (its email column holds its id).
    return this.db
      .selectFrom("users")
      .selectAll()
      .where("email", "=", email)
      .where("kind", "=", "user")
      .executeTakeFirst();
  }

  list(options: { limit: number; offset: number }): Promise<UserRow[]> {
    return this.db
      .selectFrom("users")
      .selectAll()
      .where("kind", "=", "user")
      .orderBy("created_at", "asc")
      .orderBy("id", "asc")
      .limit(options.limit)
      .offset(options.offset)
      .execute();
  }

  async update(id: string, patch: UserPatch): Promise<boolean> {
    try {
      const result = await this.db
        .updateTable("users")
        .set(patch)
        .where("id", "=", id)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    } catch (error) {
      if (this.traits.isUniqueViolation(error)) throw new DuplicateError(error);
      throw error;
    }
  }

  async planForUpdate(id: string): Promise<string | undefined> {
    const result = await sql<{
      plan: string;
    }>`select plan from users where id = ${id}${this.traits.rowLock}`.execute(this.db);
    return result.rows[0]?.plan;
  }
}
