import type { ProjectT } from "../../api/keys.js";
import type { AuditLog } from "../audit/audit.js";
import type { Context } from "../context.js";
import { newId } from "../../infra/ids.js";

/** Minimal projects: enough for a key's project restriction to mean something. */
export class Projects {
  constructor(
    private readonly ctx: Context,
    private readonly audit: AuditLog,
  ) {}

  async create(
    ownerId: string,
    name: string,
    by: { actor: string; ip: string | null },
  ): Promise<ProjectT> {
    const row = { id: newId("prj"), owner_id: ownerId, name, created_at: this.ctx.now() };
    await this.ctx.db.insertInto("projects").values(row).execute();
    await this.audit.record({
      event: "project_created",
      userId: ownerId,
      actor: by.actor,
      ip: by.ip,
      details: { project_id: row.id, name },
    });
    return { id: row.id, name, created_at: new Date(row.created_at).toISOString() };
  }

  async list(ownerId: string): Promise<ProjectT[]> {
    const rows = await this.ctx.db
      .selectFrom("projects")
      .selectAll()
      .where("owner_id", "=", ownerId)
      .orderBy("created_at", "asc")
      .orderBy("id", "asc")
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      created_at: new Date(r.created_at).toISOString(),
    }));
  }

  /** Whether the project exists and belongs to the user. */
  async isOwnedBy(projectId: string, ownerId: string): Promise<boolean> {
    const row = await this.ctx.db
      .selectFrom("projects")
      .select("id")
      .where("id", "=", projectId)
      .where("owner_id", "=", ownerId)
      .executeTakeFirst();
    return row !== undefined;
  }
}
