import type { Kysely } from "kysely";
import type { ProjectRow, ProjectStore } from "../port.js";
import type { Database } from "../schema.js";

export class KyselyProjects implements ProjectStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: ProjectRow): Promise<void> {
    await this.db.insertInto("projects").values(row).execute();
  }

  listByOwner(ownerId: string): Promise<ProjectRow[]> {
    return this.db
      .selectFrom("projects")
      .selectAll()
      .where("owner_id", "=", ownerId)
      .orderBy("created_at", "asc")
      .orderBy("id", "asc")
      .execute();
  }

  async isOwnedBy(projectId: string, ownerId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("projects")
      .select("id")
      .where("id", "=", projectId)
      .where("owner_id", "=", ownerId)
      .executeTakeFirst();
    return row !== undefined;
  }
}
