import { sql, type Kysely } from "kysely";
import type { EngineTraits } from "../engines.js";
import type {
  KeyRow,
  OrgInvitationRow,
  OrgMemberRow,
  OrgMemberView,
  OrgPatch,
  OrgRow,
  OrgStore,
  UserRow,
} from "../port.js";
import type { Database } from "../schema.js";
import type { Transact } from "./index.js";

const ROLE_ORDER = sql<number>`case m.role when 'owner' then 0 when 'admin' then 1 when 'member' then 2 else 3 end`;

export class KyselyOrgs implements OrgStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly traits: EngineTraits,
    private readonly transact: Transact,
  ) {}

  async create(account: UserRow, org: OrgRow, owner: OrgMemberRow): Promise<void> {
    await this.transact(async (trx) => {
      await trx.insertInto("users").values(account).execute();
      await trx.insertInto("orgs").values(org).execute();
      await trx.insertInto("org_members").values(owner).execute();
    });
  }

  byId(id: string): Promise<OrgRow | undefined> {
    return this.db
      .selectFrom("orgs")
      .selectAll()
      .where("id", "=", id)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
  }

  async lock(id: string): Promise<OrgRow | undefined> {
    const result = await sql<OrgRow>`
      select * from orgs where id = ${id} and deleted_at is null${this.traits.rowLock}`.execute(
      this.db,
    );
    return result.rows[0];
  }

  async update(id: string, patch: OrgPatch): Promise<boolean> {
    const result = await this.db
      .updateTable("orgs")
      .set(patch)
      .where("id", "=", id)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  membership(orgId: string, userId: string): Promise<OrgMemberRow | undefined> {
    return this.db
      .selectFrom("org_members")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
  }

  async membershipsOf(userId: string): Promise<{ org: OrgRow; role: string }[]> {
    const rows = await this.db
      .selectFrom("org_members as m")
      .innerJoin("orgs as o", "o.id", "m.org_id")
      .selectAll("o")
      .select("m.role as member_role")
      .where("m.user_id", "=", userId)
      .where("o.deleted_at", "is", null)
      .orderBy("o.name", "asc")
      .orderBy("o.id", "asc")
      .execute();
    return rows.map(({ member_role, ...org }) => ({ org, role: member_role }));
  }

  async members(orgId: string): Promise<OrgMemberView[]> {
    const rows = await this.db
      .selectFrom("org_members as m")
      .innerJoin("users as u", "u.id", "m.user_id")
      .leftJoin("totp_factors as t", "t.user_id", "m.user_id")
      .selectAll("m")
      .select(["u.email as email", "t.enabled_at as totp_enabled_at"])
      .where("m.org_id", "=", orgId)
      .orderBy(ROLE_ORDER)
      .orderBy("m.created_at", "asc")
      .orderBy("m.user_id", "asc")
      .execute();
    return rows.map(({ totp_enabled_at, ...row }) => ({
      ...row,
      has_2fa: totp_enabled_at !== null && totp_enabled_at !== undefined,
    }));
  }

  async addMember(row: OrgMemberRow): Promise<boolean> {
    const result = await this.db
      .insertInto("org_members")
      .values(row)
      .onConflict((oc) => oc.columns(["org_id", "user_id"]).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async setRole(orgId: string, userId: string, role: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable("org_members")
      .set({ role, updated_at: now })
      .where("org_id", "=", orgId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async removeMember(orgId: string, userId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("org_members")
      .where("org_id", "=", orgId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async removeAllMembers(orgId: string): Promise<string[]> {
    const rows = await this.db
      .deleteFrom("org_members")
      .where("org_id", "=", orgId)
      .returning("user_id")
      .execute();
    return rows.map((r) => r.user_id);
  }

  async countOwners(orgId: string): Promise<number> {
    const row = await this.db
      .selectFrom("org_members")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("org_id", "=", orgId)
      .where("role", "=", "owner")
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async insertInvitation(row: OrgInvitationRow): Promise<void> {
    await this.db.insertInto("org_invitations").values(row).execute();
  }

  pendingInvitations(orgId: string, now: number): Promise<OrgInvitationRow[]> {
    return this.db
      .selectFrom("org_invitations")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("accepted_at", "is", null)
      .where("revoked_at", "is", null)
      .where("expires_at", ">", now)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .execute();
  }

  invitationByHash(tokenHash: string): Promise<OrgInvitationRow | undefined> {
    return this.db
      .selectFrom("org_invitations")
      .selectAll()
      .where("token_hash", "=", tokenHash)
      .executeTakeFirst();
  }

  async acceptInvitation(id: string, userId: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable("org_invitations")
      .set({ accepted_at: now, accepted_by: userId })
      .where("id", "=", id)
      .where("accepted_at", "is", null)
      .where("revoked_at", "is", null)
      .where("expires_at", ">", now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async revokeInvitation(orgId: string, id: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable("org_invitations")
      .set({ revoked_at: now })
      .where("id", "=", id)
      .where("org_id", "=", orgId)
      .where("accepted_at", "is", null)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  keysOf(orgId: string, createdBy?: string): Promise<KeyRow[]> {
    let query = this.db
      .selectFrom("api_keys")
      .selectAll()
      .where("owner_id", "=", orgId)
      .where("revoked_at", "is", null);
    if (createdBy !== undefined) query = query.where("created_by", "=", createdBy);
    return query.orderBy("created_at", "asc").orderBy("id", "asc").execute();
  }

  async has2fa(userId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("totp_factors")
      .select("enabled_at")
      .where("user_id", "=", userId)
      .where("enabled_at", "is not", null)
      .executeTakeFirst();
    return row !== undefined;
  }
}
