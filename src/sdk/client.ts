import type { z } from "zod";
import type {
  ActivityQuery,
  CreateKeyBody,
  KeyActivity,
  KeyCreated,
  KeyDetails,
  KeyList,
  KeyPatch,
  KeyRecordFull,
  KeyUsageAccepted,
  KeyUsageReport,
  OwnerLimits,
  OwnerLimitsBody,
  Project,
  ProjectBody,
  ProjectList,
  RotateBody,
  VerifyBody,
  VerifyResponse,
} from "../api/keys.js";
import type { ExchangeBody, ExchangeResponse } from "../api/exchange.js";
import type { LeakPolicy, LeakReceipt, LeakReportBody } from "../api/leaks.js";
import type {
  CeremonyOptions,
  Passkey,
  PasskeyList,
  PasskeyLoginBody,
  PasskeyLoginOptionsBody,
  PasskeyRegisterBody,
  PasskeyRenameBody,
} from "../api/passkeys.js";
import type {
  EmailChangeBody,
  EmailVerificationSent,
  EmailVerified,
  EmailVerifyBody,
  PasswordChangeBody,
  PasswordChanged,
  PasswordResetAccepted,
  PasswordResetBody,
  PasswordResetConfirmBody,
  Reauthenticated,
  ReauthenticateBody,
} from "../api/lifecycle.js";
import type {
  AdminUserList,
  AdminUserPatch,
  AuditList,
  AuditQuery,
  LoginBody,
  MfaLoginBody,
  PageQuery,
  SessionList,
  SessionsEnded,
  SignupBody,
  SignupResponse,
  TokenPair,
  User,
  Whoami,
} from "../api/schemas.js";
import type {
  BackupCodesResponse,
  TwoFactorCodeBody,
  TwoFactorDisabled,
  TwoFactorSetupResponse,
  TwoFactorStatus,
  TwoFactorVerifyBody,
} from "../api/twofa.js";
import type {
  CreateWebhookBody,
  DeliveriesQuery,
  TestEventSent,
  WebhookCreated,
  WebhookDelivery,
  WebhookDeliveryDetails,
  WebhookDeliveryList,
  WebhookEndpoint,
  WebhookEventTypes,
  WebhookList,
  WebhookPatch,
} from "../api/webhooks.js";
import type {
  Accepted,
  CreateOrgBody,
  InvitationBody,
  InvitationCreated,
  InvitationList,
  Member,
  MemberList,
  MemberPatch,
  Org,
  OrgDeleted,
  OrgList,
  OrgPolicy,
  OrgPolicyPatch,
} from "../api/orgs.js";
import { Transport, type Fetch } from "./transport.js";

/** What a call sends: the server's request schema as the caller writes it. */
type In<S extends z.ZodType> = z.input<S>;
/** What a call returns: the server's response schema. */
type Out<S extends z.ZodType> = z.output<S>;
/** Query strings: the parsed form (numbers as numbers), every field optional. */
type QueryOf<S extends z.ZodType> = Partial<z.output<S>>;

export interface LatchkeyOptions {
  /** An API key (`lk_live_…`) or leave out and use `accessToken` / `auth.login`. */
  apiKey?: string;
  /** A JWT access token from `auth.login`. */
  accessToken?: string;
  /** Where Latchkey listens, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** A `fetch` to use instead of the global one (tests, proxies, retries). */
  fetch?: Fetch;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  /**
   * Act in this organization (issue 16): `keys`, `projects`, `webhooks` and the leak policy
   * then work on its resources (the `Latchkey-Org` header). Change it with `useOrg`.
   */
  org?: string;
}

/**
 * A typed client for Latchkey's HTTP API. Every method resolves with the server's answer
 * (types from the server's own wire schemas) or throws `LatchkeyApiError` /
 * `LatchkeyNetworkError`.
 *
 * `auth.login`, `auth.loginMfa` and `auth.refresh` adopt the new access token as this
 * client's credential, so a signed-in client is one call away.
 */
export class Latchkey {
  readonly auth;
  readonly twofa;
  readonly passkeys;
  readonly keys;
  readonly projects;
  readonly audit;
  readonly webhooks;
  readonly orgs;
  readonly admin;
  private readonly http: Transport;

  constructor(options: LatchkeyOptions) {
    this.http = new Transport({
      baseUrl: options.baseUrl,
      fetch: options.fetch,
      timeoutMs: options.timeoutMs,
    });
    this.http.credential = options.apiKey ?? options.accessToken ?? null;
    this.http.org = options.org ?? null;
    this.auth = authGroup(this.http);
    this.twofa = twofaGroup(this.http);
    this.passkeys = passkeysGroup(this.http);
    this.keys = keysGroup(this.http);
    this.projects = projectsGroup(this.http);
    this.audit = auditGroup(this.http);
    this.webhooks = webhooksGroup(this.http);
    this.orgs = orgsGroup(this.http);
    this.admin = adminGroup(this.http);
  }

  /**
   * Makes `keys`, `projects`, `webhooks` and the leak policy act in this organization (an id;
   * null: your own space again). Not a member: those calls answer 404.
   */
  useOrg(orgId: string | null): void {
    this.http.org = orgId;
  }

  /** The organization calls act in; null for your own space. */
  get org(): string | null {
    return this.http.org;
  }

  /** Replaces the credential (an API key or access token); `null` sends none. */
  setCredential(credential: string | null): void {
    this.http.credential = credential;
  }

  get baseUrl(): string {
    return this.http.baseUrl;
  }
}

function authGroup(http: Transport) {
  const adopt = (pair: Out<typeof TokenPair>) => {
    http.credential = pair.access_token;
    return pair;
  };
  return {
    signup: (body: In<typeof SignupBody>) =>
      http.request<Out<typeof SignupResponse>>("POST", "/v1/auth/signup", {
        body,
        credential: null,
      }),
    /** With 2FA on and no code: throws `mfa_required`; its `mfaToken` goes to `loginMfa`. */
    login: async (body: In<typeof LoginBody>) =>
      adopt(
        await http.request<Out<typeof TokenPair>>("POST", "/v1/auth/login", {
          body,
          credential: null,
        }),
      ),
    loginMfa: async (body: In<typeof MfaLoginBody>) =>
      adopt(
        await http.request<Out<typeof TokenPair>>("POST", "/v1/auth/login/mfa", {
          body,
          credential: null,
        }),
      ),
    refresh: async (refreshToken: string) =>
      adopt(
        await http.request<Out<typeof TokenPair>>("POST", "/v1/auth/refresh", {
          body: { refresh_token: refreshToken },
          credential: null,
        }),
      ),
    /**
     * Step-up (SPEC §9): the password (+ `code` or `backup_code` with 2FA on), or `passkey` (the
     * answer to `passkeys.reauthenticationOptions`), for the signed-in session; the fresh access token is adopted, so a call refused with
     * `reauthentication_required` can be retried as it was.
     */
    reauthenticate: async (body: In<typeof ReauthenticateBody>) => {
      const fresh = await http.request<Out<typeof Reauthenticated>>(
        "POST",
        "/v1/auth/reauthenticate",
        { body },
      );
      http.credential = fresh.access_token;
      return fresh;
    },
    logout: () => http.request<null>("POST", "/v1/auth/logout").then(() => undefined),
    whoami: () => http.request<Out<typeof Whoami>>("GET", "/v1/auth/whoami"),
    sessions: () => http.request<Out<typeof SessionList>>("GET", "/v1/auth/sessions"),
    endSession: (id: string) =>
      http
        .request<null>("DELETE", `/v1/auth/sessions/${encodeURIComponent(id)}`)
        .then(() => undefined),
    /** Needs a session (access token); ends the user's other sessions, keeps this one. */
    changePassword: (body: In<typeof PasswordChangeBody>) =>
      http.request<Out<typeof PasswordChanged>>("POST", "/v1/auth/password", { body }),
    /** Mails a reset link; the same answer whether or not the email has an account. */
    requestPasswordReset: (body: In<typeof PasswordResetBody>) =>
      http.request<Out<typeof PasswordResetAccepted>>("POST", "/v1/auth/password/reset", {
        body,
        credential: null,
      }),
    /** The mailed token and a new password (+ `code` or `backup_code` with 2FA on); ends every session. */
    confirmPasswordReset: (body: In<typeof PasswordResetConfirmBody>) =>
      http.request<Out<typeof PasswordChanged>>("POST", "/v1/auth/password/reset/confirm", {
        body,
        credential: null,
      }),
    /** The token mailed at signup. */
    verifyEmail: (body: In<typeof EmailVerifyBody>) =>
      http.request<Out<typeof EmailVerified>>("POST", "/v1/auth/email/verify", {
        body,
        credential: null,
      }),
    /**
     * Needs a session and a recent authentication (step-up): mails the new address a link that
     * moves the account there (`verifyEmail` with its token), and the old one a notice.
     */
    changeEmail: (body: In<typeof EmailChangeBody>) =>
      http.request<Out<typeof EmailVerificationSent>>("POST", "/v1/auth/email", { body }),
    /** Needs a session; mails a new verification link (throttled). */
    resendVerification: () =>
      http.request<Out<typeof EmailVerificationSent>>("POST", "/v1/auth/email/verify/resend"),
  };
}

/** Two-factor authentication; changing it needs a session (an access token), not an API key. */
function twofaGroup(http: Transport) {
  return {
    /** Starts enrolment: the secret, the otpauth URL and a QR code; pending until `verify`. */
    setup: () => http.request<Out<typeof TwoFactorSetupResponse>>("POST", "/v1/auth/2fa/setup"),
    /** Turns 2FA on; the answer holds the backup codes, shown this once. */
    verify: (body: In<typeof TwoFactorVerifyBody>) =>
      http.request<Out<typeof BackupCodesResponse>>("POST", "/v1/auth/2fa/verify", { body }),
    status: () => http.request<Out<typeof TwoFactorStatus>>("GET", "/v1/auth/2fa/status"),
    disable: (body: In<typeof TwoFactorCodeBody>) =>
      http.request<Out<typeof TwoFactorDisabled>>("POST", "/v1/auth/2fa/disable", { body }),
    regenerateBackupCodes: (body: In<typeof TwoFactorCodeBody>) =>
      http.request<Out<typeof BackupCodesResponse>>("POST", "/v1/auth/2fa/backup-codes", {
        body,
      }),
  };
}

/**
 * Passkeys (WebAuthn, SPEC §9). A ceremony has two calls: `*Options` gives what the browser
 * passes to `navigator.credentials` (e.g. `startRegistration({ optionsJSON })` of
 * @simplewebauthn/browser), and the browser's answer goes back as `credential`.
 */
function passkeysGroup(http: Transport) {
  const path = (id: string) => `/v1/auth/passkeys/${encodeURIComponent(id)}`;
  return {
    list: () => http.request<Out<typeof PasskeyList>>("GET", "/v1/auth/passkeys"),
    /** Needs a recent authentication (step-up), like `register`. */
    registrationOptions: () =>
      http.request<Out<typeof CeremonyOptions>>("POST", "/v1/auth/passkeys/register/options"),
    register: (body: In<typeof PasskeyRegisterBody>) =>
      http.request<Out<typeof Passkey>>("POST", "/v1/auth/passkeys/register", { body }),
    rename: (id: string, body: In<typeof PasskeyRenameBody>) =>
      http.request<Out<typeof Passkey>>("PATCH", path(id), { body }),
    /** Needs a recent authentication (step-up). */
    remove: (id: string) => http.request<null>("DELETE", path(id)).then(() => undefined),
    /** Passwordless (no body), or the second step with the `mfa_token` of `auth.login`. */
    loginOptions: (body: In<typeof PasskeyLoginOptionsBody> = {}) =>
      http.request<Out<typeof CeremonyOptions>>("POST", "/v1/auth/passkeys/login/options", {
        body,
        credential: null,
      }),
    /** Signs in; the access token is adopted for the calls that follow. */
    login: async (body: In<typeof PasskeyLoginBody>) => {
      const pair = await http.request<Out<typeof TokenPair>>("POST", "/v1/auth/passkeys/login", {
        body,
        credential: null,
      });
      http.credential = pair.access_token;
      return pair;
    },
    /** For `auth.reauthenticate({ passkey })`: the signed-in session's challenge. */
    reauthenticationOptions: () =>
      http.request<Out<typeof CeremonyOptions>>("POST", "/v1/auth/passkeys/reauthenticate/options"),
  };
}

function keysGroup(http: Transport) {
  const path = (id: string, tail = "") => `/v1/api-keys/${encodeURIComponent(id)}${tail}`;
  return {
    /** The answer's `key` is the secret, shown this once. */
    create: (body: In<typeof CreateKeyBody>) =>
      http.request<Out<typeof KeyCreated>>("POST", "/v1/api-keys", { body }),
    list: () => http.request<Out<typeof KeyList>>("GET", "/v1/api-keys"),
    /** The record with usage by endpoint, project and hour. */
    get: (id: string) => http.request<Out<typeof KeyDetails>>("GET", path(id)),
    activity: (id: string, query: QueryOf<typeof ActivityQuery> = {}) =>
      http.request<Out<typeof KeyActivity>>("GET", path(id, "/activity"), { query }),
    /** Renames and/or narrows scopes (never widens). */
    update: (id: string, body: In<typeof KeyPatch>) =>
      http.request<Out<typeof KeyRecordFull>>("PATCH", path(id), { body }),
    /** Revokes at once, on every instance. */
    revoke: (id: string) => http.request<Out<typeof KeyRecordFull>>("DELETE", path(id)),
    /** A new key with the same name, scopes, environment and project; the old one keeps working. */
    rotate: (id: string, body: In<typeof RotateBody> = {}) =>
      http.request<Out<typeof KeyCreated>>("POST", path(id, "/rotate"), { body }),
    /** For services (needs `keys:verify`); prefer `createVerifier`, which caches. */
    verify: (body: In<typeof VerifyBody>) =>
      http.request<Out<typeof VerifyResponse>>("POST", "/v1/keys/verify", { body }),
    /**
     * Exchanges an API key for a short-lived access token (`POST /v1/keys/exchange`): at most
     * 15 minutes, scopes narrowed on request, verified offline by `createVerifier`. The key
     * is the client's own `apiKey` unless `options.key` names another.
     */
    exchange: (body: In<typeof ExchangeBody> = {}, options: { key?: string } = {}) =>
      http.request<Out<typeof ExchangeResponse>>("POST", "/v1/keys/exchange", {
        body,
        ...(options.key !== undefined ? { credential: options.key } : {}),
      }),
    /** For services (needs `keys:verify`): counts cached hits; `createVerifier` does it itself. */
    reportUsage: (body: In<typeof KeyUsageReport>) =>
      http.request<Out<typeof KeyUsageAccepted>>("POST", "/v1/keys/usage", { body }),
    /**
     * Reports keys seen in public (`POST /v1/keys/leaks`): the real, active ones are revoked
     * at once. Anyone may report (`anonymous: true` sends no credential); only a credential
     * with `keys:report` gets `results`, each key's outcome by prefix.
     */
    reportLeaks: (body: In<typeof LeakReportBody>, options: { anonymous?: boolean } = {}) =>
      http.request<Out<typeof LeakReceipt>>("POST", "/v1/keys/leaks", {
        body,
        ...(options.anonymous ? { credential: null } : {}),
      }),
    /** What a leak report does to your keys: `revoke` (the default) or `quarantine`. */
    leakPolicy: () => http.request<Out<typeof LeakPolicy>>("GET", "/v1/keys/leaks/policy"),
    /**
     * Needs a session and a recent authentication (step-up). Under `quarantine` a reported
     * key is refused as `key_leaked` until you enable it again (`update(id, {enabled: true})`)
     * or revoke it.
     */
    setLeakPolicy: (policy: In<typeof LeakPolicy>["policy"]) =>
      http.request<Out<typeof LeakPolicy>>("PUT", "/v1/keys/leaks/policy", {
        body: { policy },
      }),
  };
}

function projectsGroup(http: Transport) {
  return {
    create: (body: In<typeof ProjectBody>) =>
      http.request<Out<typeof Project>>("POST", "/v1/projects", { body }),
    list: () => http.request<Out<typeof ProjectList>>("GET", "/v1/projects"),
  };
}

function auditGroup(http: Transport) {
  const list = (query: QueryOf<typeof AuditQuery> = {}) =>
    http.request<Out<typeof AuditList>>("GET", "/v1/audit-log", { query });
  return {
    list,
    /**
     * Every event matching `query`, newest first, a page (`limit`, default 500) at a time
     * through the `next_before` cursor: `for await (const event of client.audit.entries())`.
     */
    async *entries(
      query: Omit<QueryOf<typeof AuditQuery>, "before" | "format"> = {},
    ): AsyncGenerator<Out<typeof AuditList>["events"][number]> {
      let before: number | undefined;
      do {
        const page = await list({ limit: 500, ...query, before });
        yield* page.events;
        before = page.next_before ?? undefined;
      } while (before !== undefined);
    },
  };
}

/**
 * Webhook endpoints (SPEC §11): where Latchkey posts the events you choose, signed per
 * Standard Webhooks (check them with `verifyWebhook`). Creating one, changing its URL and
 * rotating its secret need a session with a recent authentication (step-up), never an API key.
 */
function webhooksGroup(http: Transport) {
  const path = (id: string, tail = "") => `/v1/webhooks/${encodeURIComponent(id)}${tail}`;
  const delivery = (id: string, deliveryId: string, tail = "") =>
    path(id, `/deliveries/${encodeURIComponent(deliveryId)}${tail}`);
  return {
    /** The events an endpoint can subscribe to, with what each means. */
    eventTypes: () =>
      http.request<Out<typeof WebhookEventTypes>>("GET", "/v1/webhooks/event-types"),
    list: () => http.request<Out<typeof WebhookList>>("GET", "/v1/webhooks"),
    /** The answer's `secret` (`whsec_…`) verifies the deliveries; it is shown this once. */
    create: (body: In<typeof CreateWebhookBody>) =>
      http.request<Out<typeof WebhookCreated>>("POST", "/v1/webhooks", { body }),
    get: (id: string) => http.request<Out<typeof WebhookEndpoint>>("GET", path(id)),
    /** Events, description, `enabled`; a new `url` needs step-up. */
    update: (id: string, body: In<typeof WebhookPatch>) =>
      http.request<Out<typeof WebhookEndpoint>>("PATCH", path(id), { body }),
    remove: (id: string) => http.request<null>("DELETE", path(id)).then(() => undefined),
    /** A new signing secret, shown this once; the old one stops signing at once (step-up). */
    rotateSecret: (id: string) =>
      http.request<Out<typeof WebhookCreated>>("POST", path(id, "/rotate-secret")),
    /** Queues a `webhook.test` event for this endpoint alone. */
    sendTest: (id: string) => http.request<Out<typeof TestEventSent>>("POST", path(id, "/test")),
    /** The delivery log, newest first; pass `next_before` as `before` for the next page. */
    deliveries: (id: string, query: QueryOf<typeof DeliveriesQuery> = {}) =>
      http.request<Out<typeof WebhookDeliveryList>>("GET", path(id, "/deliveries"), { query }),
    /** One delivery with each of its attempts. */
    delivery: (id: string, deliveryId: string) =>
      http.request<Out<typeof WebhookDeliveryDetails>>("GET", delivery(id, deliveryId)),
    /** Sends that delivery's event again (same `webhook-id`) as a new delivery. */
    redeliver: (id: string, deliveryId: string) =>
      http.request<Out<typeof WebhookDelivery>>("POST", delivery(id, deliveryId, "/redeliver")),
  };
}

/**
 * Organizations (SPEC §10): team-owned keys, members and roles, invitations, policies and the
 * organization's audit log. Membership is checked by the server on every call.
 */
function orgsGroup(http: Transport) {
  const path = (id: string, tail = "") => `/v1/orgs/${encodeURIComponent(id)}${tail}`;
  return {
    list: () => http.request<Out<typeof OrgList>>("GET", "/v1/orgs"),
    /** You are its first owner. */
    create: (body: In<typeof CreateOrgBody>) =>
      http.request<Out<typeof Org>>("POST", "/v1/orgs", { body }),
    get: (id: string) => http.request<Out<typeof Org>>("GET", path(id)),
    rename: (id: string, name: string) =>
      http.request<Out<typeof Org>>("PATCH", path(id), { body: { name } }),
    /** Owners, with step-up; refused (409) while active keys remain unless `revokeKeys`. */
    delete: (id: string, options: { revokeKeys?: boolean } = {}) =>
      http.request<Out<typeof OrgDeleted>>("DELETE", path(id), {
        query: options.revokeKeys ? { revoke_keys: "true" } : {},
      }),
    policy: (id: string) => http.request<Out<typeof OrgPolicy>>("GET", path(id, "/policy")),
    /** Only the policies given change; null removes one (owners and admins, step-up). */
    setPolicy: (id: string, body: In<typeof OrgPolicyPatch>) =>
      http.request<Out<typeof OrgPolicy>>("PATCH", path(id, "/policy"), { body }),
    members: (id: string) => http.request<Out<typeof MemberList>>("GET", path(id, "/members")),
    setRole: (id: string, userId: string, role: In<typeof MemberPatch>["role"]) =>
      http.request<Out<typeof Member>>(
        "PATCH",
        path(id, `/members/${encodeURIComponent(userId)}`),
        { body: { role } },
      ),
    /** The keys they minted stay the organization's. The last owner cannot be removed. */
    removeMember: (id: string, userId: string) =>
      http
        .request<null>("DELETE", path(id, `/members/${encodeURIComponent(userId)}`))
        .then(() => undefined),
    /** Leaves the organization (your own membership; the last owner cannot). */
    leave: async (id: string) => {
      const me = await http.request<Out<typeof Whoami>>("GET", "/v1/auth/whoami");
      await http.request<null>("DELETE", path(id, `/members/${encodeURIComponent(me.user_id)}`));
    },
    /** The answer's `token` and `url` are shown this once (and mailed to the address). */
    invite: (id: string, body: In<typeof InvitationBody>) =>
      http.request<Out<typeof InvitationCreated>>("POST", path(id, "/invitations"), { body }),
    invitations: (id: string) =>
      http.request<Out<typeof InvitationList>>("GET", path(id, "/invitations")),
    revokeInvitation: (id: string, invitationId: string) =>
      http
        .request<null>("DELETE", path(id, `/invitations/${encodeURIComponent(invitationId)}`))
        .then(() => undefined),
    /** Signed in with the invited address. */
    acceptInvitation: (token: string) =>
      http.request<Out<typeof Accepted>>("POST", "/v1/invitations/accept", { body: { token } }),
    /** The organization's keys. */
    keys: (id: string) => http.request<Out<typeof KeyList>>("GET", path(id, "/api-keys")),
    /** A key the organization owns, within your role and its policies; the secret is shown once. */
    createKey: (id: string, body: In<typeof CreateKeyBody>) =>
      http.request<Out<typeof KeyCreated>>("POST", path(id, "/api-keys"), { body }),
    projects: (id: string) => http.request<Out<typeof ProjectList>>("GET", path(id, "/projects")),
    createProject: (id: string, name: string) =>
      http.request<Out<typeof Project>>("POST", path(id, "/projects"), { body: { name } }),
    /** The organization's events, newest first (owners and admins). */
    auditLog: (id: string, query: { limit?: number; before?: number; event?: string } = {}) =>
      http.request<Out<typeof AuditList>>("GET", path(id, "/audit-log"), { query }),
  };
}

function adminGroup(http: Transport) {
  return {
    listUsers: (query: QueryOf<typeof PageQuery> = {}) =>
      http.request<Out<typeof AdminUserList>>("GET", "/v1/admin/users", { query }),
    updateUser: (id: string, body: In<typeof AdminUserPatch>) =>
      http.request<Out<typeof User>>("PATCH", `/v1/admin/users/${encodeURIComponent(id)}`, {
        body,
      }),
    /** An owner's named rate limits, shared by all of its keys. */
    ownerLimits: (ownerId: string) =>
      http.request<Out<typeof OwnerLimits>>(
        "GET",
        `/v1/admin/owners/${encodeURIComponent(ownerId)}/ratelimits`,
      ),
    /** Replaces an owner's named rate limits (`[]` removes them); every instance sees it at once. */
    setOwnerLimits: (ownerId: string, body: In<typeof OwnerLimitsBody>) =>
      http.request<Out<typeof OwnerLimits>>(
        "PATCH",
        `/v1/admin/owners/${encodeURIComponent(ownerId)}/ratelimits`,
        { body },
      ),
    /** Signs the user out everywhere (every session ends; API keys stay). */
    endSessions: (id: string) =>
      http.request<Out<typeof SessionsEnded>>(
        "DELETE",
        `/v1/admin/users/${encodeURIComponent(id)}/sessions`,
      ),
  };
}
