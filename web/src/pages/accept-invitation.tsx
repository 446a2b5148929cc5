/**
 * `/accept-invitation?token=…`, the link an invitation mails (SPEC §10): signed in with the
 * invited address, one button joins the organization and switches to it. Signed out, the
 * token waits in this tab while the person signs in, then they come back here.
 */
import { useState } from "preact/hooks";
import { api } from "../api.js";
import { FormError } from "../components/field.js";
import { PageHeader, toast } from "../components/ui.js";
import { useSubmit } from "../components/use-submit.js";
import { setCurrentOrg } from "../org.js";
import { navigate } from "../router.js";
import type { Org, Whoami } from "../types.js";

const PENDING = "latchkey-invitation";

/** The invitation token of this page's link, or one kept while the person signed in. */
export function invitationToken(): string | null {
  const fromLink = new URLSearchParams(location.search).get("token");
  if (fromLink) return fromLink;
  try {
    return sessionStorage.getItem(PENDING);
  } catch {
    return null;
  }
}

/** Keeps the token for after sign-in (this tab only; it goes once used). */
export function keepInvitation(token: string): void {
  try {
    sessionStorage.setItem(PENDING, token);
  } catch {
    // storage refused: the person opens the link again after signing in
  }
}

function forgetInvitation(): void {
  try {
    sessionStorage.removeItem(PENDING);
  } catch {
    // nothing kept
  }
}

export function AcceptInvitationPage({
  me,
  onJoined,
}: {
  me: Whoami;
  onJoined: () => Promise<void>;
}) {
  const [token] = useState(invitationToken);
  const accept = useSubmit(
    () => api.post<{ org: Org }>("/v1/invitations/accept", { token }),
    async ({ org }) => {
      forgetInvitation();
      await onJoined();
      setCurrentOrg(org.id);
      toast(`You joined ${org.name}`);
      navigate("/keys");
    },
  );
  if (!token)
    return (
      <PageHeader
        title="No invitation here"
        description="Open the link from your invitation mail again."
      />
    );
  return (
    <>
      <PageHeader
        title="Join an organization"
        description={`You were invited to an organization on Latchkey. You are signed in as ${me.email}: the invitation must be for this address.`}
      />
      <FormError message={accept.error?.message} />
      <button
        type="button"
        class="button button-primary"
        disabled={accept.busy}
        onClick={() => void accept.run()}
      >
        {accept.busy ? "Joining…" : "Accept the invitation"}
      </button>
    </>
  );
}
