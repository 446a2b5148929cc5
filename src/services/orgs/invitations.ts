import { LatchkeyError } from "../../core/errors.js";
import { roleCan, type OrgRole } from "../../core/org-roles.js";
import { newId, newSecret } from "../../infra/ids.js";
import { sha256 } from "../../infra/secrets.js";
import type { OrgInvitationRow } from "../../store/port.js";
import { normalizeEmail } from "../accounts/accounts.js";
import type { Caller } from "../keys/api-keys.js";
import type { Deps } from "../deps.js";
import type { MailOutbox } from "../mail/outbox.js";
import { orgInvitationMail, portalLink } from "../mail/templates.js";
import type { OrgContext, Orgs } from "./orgs.js";

/** How long an invitation can be accepted. */
export const INVITATION_TTL_MS = 7 * 86_400_000;
/** Pending invitations an organization may hold at once. */
const MAX_PENDING = 100;

export interface CreatedInvitation {
  row: OrgInvitationRow;
  /** The one-time token and the portal link carrying it: shown this once, stored hashed. */
  token: string;
  url: string;
}

/**
 * Invitations to an organization (issue 16): a single-use token for one address and role,
 * valid 7 days, stored as its SHA-256, mailed through the outbox, revocable. Accepting takes
 * a signed-in account with that address; of racing accepts exactly one wins.
 */
export class Invitations {
  constructor(
    private readonly deps: Deps,
    private readonly orgs: Orgs,
    private readonly outbox: MailOutbox,
  ) {}

  async create(
    ctx: OrgContext,
    input: { email: string; role: OrgRole },
  ): Promise<CreatedInvitation> {
    if (input.role === "owner" && !roleCan(ctx.role, "manage_owners"))
      throw new LatchkeyError("forbidden", "only an owner invites owners");
    const email = normalizeEmail(input.email);
    const now = this.deps.now();
    const invited = await this.deps.store.users.byEmail(email);
    if (invited && (await this.deps.store.orgs.membership(ctx.org.id, invited.id)))
      throw new LatchkeyError("conflict", `${email} is already a member`);
    const pending = await this.deps.store.orgs.pendingInvitations(ctx.org.id, now);
    if (pending.length >= MAX_PENDING)
      throw new LatchkeyError(
        "conflict",
        `the organization has ${MAX_PENDING} pending invitations: revoke some first`,
      );
    const token = newSecret(this.deps.random, "lki");
    const row: OrgInvitationRow = {
      id: newId(this.deps.random, "inv"),
      org_id: ctx.org.id,
      email,
      role: input.role,
      token_hash: sha256(token),
      invited_by: ctx.person.user.id,
      created_at: now,
      expires_at: now + INVITATION_TTL_MS,
      accepted_at: null,
      accepted_by: null,
      revoked_at: null,
    };
    const url = portalLink(this.deps.config.publicUrl, "accept-invitation", token);
    await this.deps.store.transaction(async (tx) => {
      await tx.orgs.insertInvitation(row);
      await this.outbox.enqueue(
        tx,
        "org_invitation",
        orgInvitationMail(email, { orgName: ctx.org.name, role: input.role, url }),
      );
    });
    this.outbox.wake();
    await this.orgs.record(ctx, "org_invitation_created", {
      invitation_id: row.id,
      email,
      role: input.role,
    });
    return { row, token, url };
  }

  pending(ctx: OrgContext): Promise<OrgInvitationRow[]> {
    return this.deps.store.orgs.pendingInvitations(ctx.org.id, this.deps.now());
  }

  async revoke(ctx: OrgContext, id: string): Promise<void> {
    if (!(await this.deps.store.orgs.revokeInvitation(ctx.org.id, id, this.deps.now())))
      throw new LatchkeyError("not_found", "no such pending invitation");
    await this.orgs.record(ctx, "org_invitation_revoked", { invitation_id: id });
  }

  /**
   * The signed-in person accepts: the token must be pending and for their address. The
   * invitation is spent and the membership added in one transaction (a conditional update
   * picks the one winner of racing accepts; the others get 409).
   */
  async accept(person: Caller, token: string): Promise<{ orgId: string; role: OrgRole }> {
    if (person.user.org !== undefined || person.keyId !== null)
      throw new LatchkeyError("forbidden", "accepting an invitation takes a signed-in person");
    const row = await this.deps.store.orgs.invitationByHash(sha256(token));
    const now = this.deps.now();
    if (!row || row.revoked_at !== null || row.expires_at <= now)
      throw new LatchkeyError("not_found", "no such invitation, or it expired or was revoked");
    if (row.accepted_at !== null)
      throw new LatchkeyError("conflict", "this invitation was already accepted");
    if (normalizeEmail(person.user.email) !== row.email)
      throw new LatchkeyError(
        "forbidden",
        "this invitation is for another email address: sign in with the invited one",
      );
    if (!(await this.deps.store.orgs.byId(row.org_id)))
      throw new LatchkeyError("not_found", "the organization no longer exists");
    await this.deps.store.transaction(async (tx) => {
      if (!(await tx.orgs.acceptInvitation(row.id, person.user.id, now)))
        throw new LatchkeyError("conflict", "this invitation was already accepted");
      const added = await tx.orgs.addMember({
        org_id: row.org_id,
        user_id: person.user.id,
        role: row.role,
        created_at: now,
        updated_at: now,
      });
      if (!added) throw new LatchkeyError("conflict", "you are already a member");
    });
    await this.deps.bus.publish({ type: "user_changed", userId: person.user.id });
    const ctx = await this.orgs.context(person, row.org_id, { allowWithout2fa: true });
    await this.orgs.record(ctx, "org_invitation_accepted", {
      invitation_id: row.id,
      user_id: person.user.id,
      role: row.role,
    });
    return { orgId: row.org_id, role: row.role as OrgRole };
  }
}
