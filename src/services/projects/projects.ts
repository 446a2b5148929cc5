import { newId } from "../../infra/ids.js";
import type { ProjectRow } from "../../store/port.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";

export type Project = ProjectRow;

/** Minimal projects: enough for a key's project restriction to mean something. */
export class Projects {
  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
  ) {}

  async create(
    ownerId: string,
    name: string,
    by: { actor: string; ip: string | null },
  ): Promise<Project> {
    const row: ProjectRow = {
      id: newId(this.deps.random, "prj"),
      owner_id: ownerId,
      name,
      created_at: this.deps.now(),
    };
    await this.deps.store.projects.insert(row);
    await this.audit.record({
      event: "project_created",
      userId: ownerId,
      actor: by.actor,
      ip: by.ip,
      details: { project_id: row.id, name },
    });
    return row;
  }

  /** Oldest first. */
  list(ownerId: string): Promise<Project[]> {
    return this.deps.store.projects.listByOwner(ownerId);
  }

  /** Whether the project exists and belongs to the user. */
  isOwnedBy(projectId: string, ownerId: string): Promise<boolean> {
    return this.deps.store.projects.isOwnedBy(projectId, ownerId);
  }
}
