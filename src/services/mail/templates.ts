/**
 * The account mails (SPEC §9): plain text and HTML, each carrying no secret but the one-time
 * link it exists for. Notices carry no link at all.
 */

/** A message as composed: what the outbox stores (sealed) until it is sent. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export type MailKind =
  | "verify_email"
  | "password_reset"
  | "password_changed"
  | "change_email"
  | "email_change_notice"
  | "org_invitation";

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

function compose(
  to: string,
  subject: string,
  paragraphs: string[],
  link: { url: string; label: string } | null,
): MailMessage {
  const text = [...paragraphs.slice(0, 1), ...(link ? [link.url] : []), ...paragraphs.slice(1)];
  const html = [
    `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">`,
    `<p>${escapeHtml(paragraphs[0]!)}</p>`,
    link
      ? `<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>` +
        `<p style="color:#555">Or open this address: ${escapeHtml(link.url)}</p>`
      : "",
    ...paragraphs.slice(1).map((p) => `<p>${escapeHtml(p)}</p>`),
    `</body></html>`,
  ].join("\n");
  return { to, subject, text: text.join("\n\n") + "\n", html };
}

/** A portal page with the token as `?token=`. */
export function portalLink(publicUrl: string, page: string, token: string): string {
  const url = new URL(page, publicUrl.endsWith("/") ? publicUrl : `${publicUrl}/`);
  url.searchParams.set("token", token);
  return url.toString();
}

export function verifyEmailMail(to: string, url: string): MailMessage {
  return compose(
    to,
    "Confirm your email address",
    [
      "Confirm that this is your address for your Latchkey account by opening the link below.",
      "The link works once and expires in 24 hours.",
      "If you did not create an account, ignore this message.",
    ],
    { url, label: "Confirm my email address" },
  );
}

export function passwordResetMail(to: string, url: string): MailMessage {
  return compose(
    to,
    "Reset your password",
    [
      "Someone (hopefully you) asked to reset the password of your Latchkey account. Open the link below to choose a new one.",
      "The link works once and expires in 30 minutes. If two-factor authentication is on, you will also need a code from your authenticator app or a backup code.",
      "If you did not ask for this, ignore this message: your password stays as it is.",
    ],
    { url, label: "Choose a new password" },
  );
}

export function passwordChangedMail(to: string, how: "changed" | "reset"): MailMessage {
  const what =
    how === "changed"
      ? "The password of your Latchkey account was just changed. Your other sessions were signed out."
      : "The password of your Latchkey account was just reset with a link sent to this address. Every session was signed out.";
  return compose(
    to,
    "Your password was changed",
    [
      what,
      "If this was not you, reset your password at once from the sign-in page and review your API keys and the security log.",
    ],
    null,
  );
}

/** To the new address: the link that moves the account to it. */
export function changeEmailMail(to: string, url: string): MailMessage {
  return compose(
    to,
    "Confirm your new email address",
    [
      "Someone (hopefully you) asked to move a Latchkey account to this address. Open the link below to confirm: the account then signs in with this address.",
      "The link works once and expires in 24 hours.",
      "If you did not ask for this, ignore this message: nothing changes.",
    ],
    { url, label: "Confirm my new email address" },
  );
}

/** To the old address: a change was asked for (no link: nothing to click for an attacker to phish). */
export function emailChangeNoticeMail(to: string, newAddress: string): MailMessage {
  return compose(
    to,
    "Your email address is being changed",
    [
      `Someone signed in to your Latchkey account asked to change its email address to ${newAddress}. It changes once the link mailed there is opened.`,
      "If this was not you, sign in, change your password and review your sessions and API keys: the request needed a recent sign-in.",
    ],
    null,
  );
}

/** Issue 16: an invitation to join an organization (the link carries its one-time token). */
export function orgInvitationMail(
  to: string,
  invite: { orgName: string; role: string; url: string },
): MailMessage {
  return compose(
    to,
    `You are invited to join ${invite.orgName} on Latchkey`,
    [
      `You have been invited to join the organization "${invite.orgName}" as ${invite.role}. Sign in with this address and open the link below to accept.`,
      "The link works once and expires in 7 days.",
      "If you did not expect this invitation, ignore this message.",
    ],
    { url: invite.url, label: "Accept the invitation" },
  );
}
