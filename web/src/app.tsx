import { useCallback, useEffect, useState } from "preact/hooks";
import { api, whenSignedOut, whenStepUpNeeded } from "./api.js";
import { KeyIcon, Logo, ShieldIcon, WebhookIcon } from "./components/icons.js";
import { StepUpDialog } from "./components/step-up.js";
import { Spinner, Toaster } from "./components/ui.js";
import { KeyDetailsPage } from "./pages/key-details.js";
import { KeysPage } from "./pages/keys.js";
import { ForgotPasswordPage, ResetPasswordPage, VerifyEmailPage } from "./pages/recovery.js";
import { SecurityPage } from "./pages/security.js";
import { SignInPage, SignUpPage } from "./pages/sign-in.js";
import { WebhookDetailsPage } from "./pages/webhook-details.js";
import { WebhooksPage } from "./pages/webhooks.js";
import { OrgSwitcher } from "./components/org-switcher.js";
import { currentOrg, onOrgChange, setCurrentOrg } from "./org.js";
import {
  AcceptInvitationPage,
  invitationToken,
  keepInvitation,
} from "./pages/accept-invitation.js";
import { MembersPage } from "./pages/members.js";
import { OrganizationPage } from "./pages/organization.js";
import { Link, navigate, usePath } from "./router.js";
import type { Org, Whoami } from "./types.js";

const PUBLIC = new Set(["/sign-in", "/sign-up"]);
/** Pages a mailed link opens (or that asks for one): shown signed in or not. */
const STANDALONE = new Set(["/forgot-password", "/reset-password", "/verify-email"]);

export function App() {
  const path = usePath();
  const [me, setMe] = useState<Whoami | null | undefined>(undefined);
  // The step-up dialog's answer, while it is open (see whenStepUpNeeded).
  const [stepUp, setStepUp] = useState<((confirmed: boolean) => void) | null>(null);
  // The organization the portal acts in (org.ts), with its record (role, policies).
  const [orgId, setOrgId] = useState<string | null>(currentOrg());
  const [org, setOrg] = useState<Org | null>(null);
  useEffect(() => onOrgChange(setOrgId), []);

  const loadMe = useCallback(async () => {
    try {
      setMe(await api.get<Whoami>("/v1/auth/whoami"));
    } catch {
      setMe(null);
    }
  }, []);

  useEffect(() => {
    whenSignedOut(() => setMe(null));
    whenStepUpNeeded(() => new Promise<boolean>((resolve) => setStepUp(() => resolve)));
    void loadMe();
  }, [loadMe]);

  // A stored choice the person is no longer a member of goes back to the personal space.
  useEffect(() => {
    if (!me) return;
    if (orgId && !me.orgs.some((o) => o.id === orgId)) {
      setCurrentOrg(null);
      return;
    }
    if (!orgId) return setOrg(null);
    api
      .get<Org>(`/v1/orgs/${encodeURIComponent(orgId)}`)
      .then(setOrg)
      .catch(() => setOrg(null));
  }, [me, orgId]);

  useEffect(() => {
    if (STANDALONE.has(path)) return;
    // An invitation opened signed out waits for the sign-in, then comes back.
    if (me === null && path === "/accept-invitation") {
      const token = invitationToken();
      if (token) keepInvitation(token);
    }
    if (me && PUBLIC.has(path) && invitationToken()) {
      navigate("/accept-invitation", true);
      return;
    }
    if (me === null && !PUBLIC.has(path)) navigate("/sign-in", true);
    if (me && PUBLIC.has(path)) navigate("/keys", true);
    if (me && path === "/") navigate("/keys", true);
  }, [me, path]);

  if (me === undefined) {
    return (
      <main class="boot">
        <Spinner />
      </main>
    );
  }

  if (STANDALONE.has(path)) {
    let standalone;
    if (path === "/reset-password") standalone = <ResetPasswordPage onDone={() => void loadMe()} />;
    else if (path === "/verify-email") standalone = <VerifyEmailPage onVerified={loadMe} />;
    else standalone = <ForgotPasswordPage />;
    return (
      <>
        {standalone}
        <Toaster path={path} />
      </>
    );
  }

  if (me === null) {
    return (
      <>
        {path === "/sign-up" ? (
          <SignUpPage onSignedIn={loadMe} />
        ) : (
          <SignInPage onSignedIn={loadMe} />
        )}
        <Toaster path={path} />
      </>
    );
  }

  const signOut = async () => {
    await api.post("/v1/portal/logout").catch(() => undefined);
    setMe(null);
    navigate("/sign-in", true);
  };

  const keyMatch = /^\/keys\/([^/]+)$/.exec(path);
  const webhookMatch = /^\/webhooks\/([^/]+)$/.exec(path);
  const inOrg = orgId !== null && org !== null && org.id === orgId;
  let page;
  if (path === "/accept-invitation") page = <AcceptInvitationPage me={me} onJoined={loadMe} />;
  else if (path === "/members")
    page = inOrg ? <MembersPage org={org} me={me} onLeft={loadMe} /> : <NotInOrg />;
  else if (path === "/organization")
    page = inOrg ? <OrganizationPage key={org.id} org={org} onChanged={loadMe} /> : <NotInOrg />;
  else if (keyMatch) page = <KeyDetailsPage id={decodeURIComponent(keyMatch[1]!)} me={me} />;
  else if (webhookMatch) page = <WebhookDetailsPage id={decodeURIComponent(webhookMatch[1]!)} />;
  else if (path === "/webhooks") page = <WebhooksPage />;
  else if (path === "/security") page = <SecurityPage me={me} onSignOut={signOut} />;
  else if (path === "/keys" || path === "/") page = <KeysPage me={me} />;
  else page = <NotFound />;

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <Link href="/keys" class="brand">
            <Logo />
            <span>Latchkey</span>
          </Link>
          <OrgSwitcher me={me} onChanged={loadMe} />
          <nav class="nav" aria-label="Main">
            <Link href="/keys" aria-current={path.startsWith("/keys") ? "page" : undefined}>
              <KeyIcon />
              API keys
            </Link>
            <Link href="/webhooks" aria-current={path.startsWith("/webhooks") ? "page" : undefined}>
              <WebhookIcon />
              Webhooks
            </Link>
            {orgId && (
              <Link href="/members" aria-current={path === "/members" ? "page" : undefined}>
                Members
              </Link>
            )}
            {orgId && (
              <Link
                href="/organization"
                aria-current={path === "/organization" ? "page" : undefined}
              >
                Organization
              </Link>
            )}
            <Link href="/security" aria-current={path === "/security" ? "page" : undefined}>
              <ShieldIcon />
              Security
            </Link>
          </nav>
          <div class="account">
            <span class="account-email" title={me.email}>
              {me.email}
            </span>
            <button type="button" class="button button-ghost" onClick={signOut}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main id="main" class="container" key={orgId ?? "personal"}>
        {orgId && org && (
          <p class="alert alert-info org-banner" role="status">
            Acting in the organization <strong>{org.name}</strong> as {org.role}: keys, webhooks and
            the leak policy here are the organization's.
          </p>
        )}
        {page}
      </main>
      {stepUp && (
        <StepUpDialog
          onDone={(confirmed) => {
            setStepUp(null);
            stepUp(confirmed);
          }}
        />
      )}
      <Toaster path={path} />
    </>
  );
}

function NotInOrg() {
  return (
    <div class="page-header">
      <div>
        <h1 tabIndex={-1}>Choose an organization</h1>
        <p class="muted">Pick an organization in the switcher at the top to see this page.</p>
      </div>
    </div>
  );
}

function NotFound() {
  return (
    <div class="page-header">
      <div>
        <h1 tabIndex={-1}>Page not found</h1>
        <p class="muted">
          There is nothing here. Go to your <Link href="/keys">API keys</Link>.
        </p>
      </div>
    </div>
  );
}
