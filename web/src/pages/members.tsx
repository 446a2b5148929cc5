/**
 * The Members page of an organization (SPEC §10): its members and roles, invitations (the
 * link shown once), changing roles, removing and leaving. Owners and admins manage; the
 * server decides, and its refusals are shown as they come.
 */
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, asApiError } from "../api.js";
import { ConfirmDialog } from "../components/confirm.js";
import { FormError, SelectField, TextField } from "../components/field.js";
import { Modal } from "../components/modal.js";
import { SecretReveal } from "../components/secret.js";
import { Badge, PageHeader, Spinner, toast } from "../components/ui.js";
import { useSubmit } from "../components/use-submit.js";
import { formatDate } from "../format.js";
import { setCurrentOrg } from "../org.js";
import { navigate } from "../router.js";
import type { Invitation, Member, Org, Whoami } from "../types.js";

const ROLES = ["owner", "admin", "member", "viewer"] as const;
type Role = (typeof ROLES)[number];

export function MembersPage({
  org,
  me,
  onLeft,
}: {
  org: Org;
  me: Whoami;
  onLeft: () => Promise<void>;
}) {
  const base = `/v1/orgs/${encodeURIComponent(org.id)}`;
  const manages = org.role === "owner" || org.role === "admin";
  const [members, setMembers] = useState<Member[] | null>(null);
  const [invitations, setInvitations] = useState<Invitation[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [inviting, setInviting] = useState(false);
  const [invited, setInvited] = useState<(Invitation & { url: string }) | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);

  const load = useCallback(async () => {
    try {
      setMembers((await api.get<{ members: Member[] }>(`${base}/members`)).members);
      if (manages)
        setInvitations(
          (await api.get<{ invitations: Invitation[] }>(`${base}/invitations`)).invitations,
        );
      setError(null);
    } catch (caught) {
      setError(asApiError(caught, "could not load the members").message);
    }
  }, [base, manages]);
  useEffect(() => {
    void load();
  }, [load]);

  const changeRole = async (member: Member, role: Role) => {
    try {
      await api.patch(`${base}/members/${encodeURIComponent(member.user_id)}`, { role });
      toast(`${member.email} is now ${role}`);
      await load();
    } catch (caught) {
      setError(asApiError(caught).message);
      await load();
    }
  };

  const revoke = async (invitation: Invitation) => {
    try {
      await api.delete(`${base}/invitations/${encodeURIComponent(invitation.id)}`);
      toast("Invitation revoked");
      await load();
    } catch (caught) {
      setError(asApiError(caught).message);
    }
  };

  const invite = (
    <button type="button" class="button button-primary" onClick={() => setInviting(true)}>
      Invite someone
    </button>
  );
  return (
    <>
      <PageHeader
        title="Members"
        description={`Who belongs to ${org.name}, and in what role. Keys a member mints here are the organization's: they stay when the member goes.`}
        actions={manages ? invite : undefined}
      />
      <FormError message={error} />
      {!members && !error && <Spinner label="Loading members" />}
      {members && (
        <div class="table-wrap">
          <table class="table table-stack" aria-label="Members">
            <thead>
              <tr>
                <th>Email</th>
                <th>Role</th>
                <th>Two-factor</th>
                <th>Joined</th>
                <th>
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {members.map((m) => {
                const self = m.user_id === me.user_id;
                return (
                  <tr key={m.user_id} data-member={m.email}>
                    <td data-label="Email">
                      {m.email} {self && <Badge tone="info">you</Badge>}
                    </td>
                    <td data-label="Role">
                      {manages && !self ? (
                        <select
                          aria-label={`Role of ${m.email}`}
                          value={m.role}
                          onChange={(event) =>
                            void changeRole(m, (event.target as HTMLSelectElement).value as Role)
                          }
                        >
                          {ROLES.map((r) => (
                            <option key={r} value={r}>
                              {r}
                            </option>
                          ))}
                        </select>
                      ) : (
                        m.role
                      )}
                    </td>
                    <td data-label="Two-factor">
                      {m.has_2fa ? (
                        <Badge tone="success">On</Badge>
                      ) : (
                        <Badge tone="warning">Off</Badge>
                      )}
                    </td>
                    <td data-label="Joined">{formatDate(m.joined_at)}</td>
                    <td>
                      {(self || manages) && (
                        <button
                          type="button"
                          class="button button-danger-outline button-small"
                          onClick={() => setRemoving(m)}
                        >
                          {self ? "Leave" : "Remove"}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {manages && invitations.length > 0 && (
        <section class="card" aria-label="Pending invitations">
          <div class="card-head">
            <h2>Pending invitations</h2>
          </div>
          <ul class="session-list">
            {invitations.map((i) => (
              <li key={i.id} class="session" data-invitation={i.email}>
                <div class="session-main">
                  <strong>{i.email}</strong> as {i.role}
                  <div class="muted small">expires {formatDate(i.expires_at)}</div>
                </div>
                <button
                  type="button"
                  class="button button-secondary button-small"
                  onClick={() => void revoke(i)}
                >
                  Revoke
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      {inviting && (
        <InviteDialog
          base={base}
          canInviteOwners={org.role === "owner"}
          onClose={() => setInviting(false)}
          onInvited={(created) => {
            setInviting(false);
            setInvited(created);
            void load();
          }}
        />
      )}
      {invited && (
        <Modal title="Invitation sent" onClose={() => setInvited(null)}>
          <p>
            We mailed {invited.email} a link to join as {invited.role}. You can also send them this
            link yourself: it works once, for that address, for 7 days.
          </p>
          <SecretReveal
            secret={invited.url}
            copyLabel="Copy link"
            testId="invitation-link"
            warning={
              <>
                <strong>Copy this link now</strong> if you want to send it yourself: it is not shown
                again.
              </>
            }
            onDone={() => setInvited(null)}
          />
        </Modal>
      )}
      {removing && (
        <ConfirmDialog
          title={
            removing.user_id === me.user_id ? `Leave ${org.name}?` : `Remove ${removing.email}?`
          }
          action={removing.user_id === me.user_id ? "Leave" : "Remove"}
          busy={removing.user_id === me.user_id ? "Leaving…" : "Removing…"}
          run={() => api.delete(`${base}/members/${encodeURIComponent(removing.user_id)}`)}
          onClose={() => setRemoving(null)}
          onDone={async () => {
            const self = removing.user_id === me.user_id;
            setRemoving(null);
            if (self) {
              setCurrentOrg(null);
              await onLeft();
              toast(`You left ${org.name}`);
              navigate("/keys");
            } else {
              toast(`${removing.email} removed`);
              await load();
            }
          }}
        >
          <p>
            {removing.user_id === me.user_id
              ? "You lose access to the organization's keys and settings at once."
              : "They lose access at once. The keys they minted stay the organization's, with its access."}
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

function InviteDialog({
  base,
  canInviteOwners,
  onClose,
  onInvited,
}: {
  base: string;
  canInviteOwners: boolean;
  onClose: () => void;
  onInvited: (created: Invitation & { url: string }) => void;
}) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const submit = useSubmit(
    () => api.post<Invitation & { url: string }>(`${base}/invitations`, { email, role }),
    onInvited,
  );
  return (
    <Modal title="Invite someone" onClose={onClose}>
      <form onSubmit={(event) => void submit.run(event)}>
        <FormError message={submit.error?.message} />
        <TextField
          label="Email"
          type="email"
          value={email}
          required
          autoFocus
          onInput={(event) => setEmail((event.target as HTMLInputElement).value)}
        />
        <SelectField
          label="Role"
          value={role}
          hint="Viewers read; members use everything but billing and webhooks, and change only their own keys; admins manage members, policies and every key."
          onChange={(event) => setRole((event.target as HTMLSelectElement).value as Role)}
        >
          {ROLES.filter((r) => canInviteOwners || r !== "owner").map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </SelectField>
        <div class="modal-actions">
          <button type="button" class="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={submit.busy}>
            {submit.busy ? "Inviting…" : "Send invitation"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
