import { Accounts } from "./accounts/accounts.js";
import { EmailVerification } from "./accounts/email-verification.js";
import { PasswordFlows } from "./accounts/password-flows.js";
import { Reauthentication } from "./accounts/reauthentication.js";
import { LoginSessions } from "./accounts/login.js";
import { LoginThrottle } from "./accounts/login-throttle.js";
import { Sessions } from "./accounts/sessions.js";
import { Users } from "./accounts/users.js";
import { AuditLog } from "./audit/audit.js";
import type { Deps } from "./deps.js";
import { ApiKeys } from "./keys/api-keys.js";
import { KeyCache } from "./keys/cache.js";
import { KeyChecker } from "./keys/check.js";
import { KeyExchange } from "./keys/exchange.js";
import { KeyLeases } from "./keys/lease.js";
import { KeyMetering } from "./keys/metering.js";
import { OwnerLimits } from "./keys/owner-limits.js";
import { KeyViews } from "./keys/views.js";
import { KeyVerifier } from "./keys/verify.js";
import { MailOutbox } from "./mail/outbox.js";
import { LeakReports } from "./leaks/leaks.js";
import { Passkeys } from "./passkeys/passkeys.js";
import { KeyCreators } from "./orgs/access.js";
import { Invitations } from "./orgs/invitations.js";
import { Orgs } from "./orgs/orgs.js";
import { Projects } from "./projects/projects.js";
import { TwoFactor } from "./twofa/twofa.js";
import { UsageReports } from "./usage/reports.js";
import { UsageBuffer } from "./usage/usage.js";
import { WebhookEndpoints } from "./webhooks/endpoints.js";
import { WebhookEvents } from "./webhooks/events.js";
import { Scheduler } from "./webhooks/scheduler.js";
import { WebhookSender } from "./webhooks/sender.js";

export type { Deps } from "./deps.js";

export interface Services {
  /** The dependencies the services were built from (config, clock, bus, tokens, store …). */
  deps: Deps;
  audit: AuditLog;
  users: Users;
  sessions: Sessions;
  accounts: Accounts;
  apiKeys: ApiKeys;
  /** A key's usage and activity, for its details. */
  keyViews: KeyViews;
  projects: Projects;
  /** API keys as credentials and `POST /v1/keys/verify` (the hot path), with usage counting. */
  keyVerifier: KeyVerifier;
  /** Rate-limit leases for verifiers' cached answers (`lease` of `POST /v1/keys/verify`). */
  keyLeases: KeyLeases;
  /** Short-lived tokens from a key (`POST /v1/keys/exchange`) and their principals. */
  keyExchange: KeyExchange;
  /** Usage credits and named rate limits spent at verification (issue 20). */
  keyMetering: KeyMetering;
  /** Named rate limits shared by all of an owner's keys, set by staff (issue 20). */
  ownerLimits: OwnerLimits;
  /** Cached hits verifiers report (`POST /v1/keys/usage`), counted like direct calls. */
  usageReports: UsageReports;
  twofa: TwoFactor;
  /** Signup's verification link, its check and re-sending (SPEC §9). */
  emailVerification: EmailVerification;
  /** Change and reset password (SPEC §9). */
  passwords: PasswordFlows;
  /** Passkeys (WebAuthn): registration, second factor, passwordless sign-in (SPEC §9). */
  passkeys: Passkeys;
  /** Step-up: a signed-in person proves who they are again (SPEC §9). */
  reauthentication: Reauthentication;
  /** The durable outbox every mail leaves from; main.ts starts its sender. */
  mailOutbox: MailOutbox;
  /** Leak reports (`POST /v1/keys/leaks`): real keys revoked, owners told. */
  leaks: LeakReports;
  /** Organizations, their members, roles and policies (issue 16, SPEC §10). */
  orgs: Orgs;
  /** Invitations to an organization: one-time, mailed, accepted by the invited address. */
  invitations: Invitations;
  /** Webhook endpoints, their delivery log and redelivery (SPEC §11). */
  webhooks: WebhookEndpoints;
  /** Webhook events: stored with what causes them, queued for each subscribed endpoint. */
  webhookEvents: WebhookEvents;
  /** The webhook outbox's delivery loop; main.ts starts it. */
  webhookSender: WebhookSender;
  /** Runs key.expiring / key.expired once across the cluster; main.ts starts it. */
  scheduler: Scheduler;
  /**
   * Flushes buffered usage and refusal audits to the store; safe to call once. The
   * dependencies (store, Redis, bus) belong to whoever built them and are closed after.
   */
  close(): Promise<void>;
}

/** Wires the services over `deps`; opens nothing itself (main.ts builds the dependencies). */
export function createServices(deps: Deps): Services {
  const audit = new AuditLog(deps);
  const webhookEvents = new WebhookEvents(deps);
  const webhookSender = new WebhookSender(deps, audit);
  audit.publishWith(webhookEvents);
  webhookEvents.onPublished(() => webhookSender.wake());
  const scheduler = new Scheduler(deps, webhookEvents);
  const users = new Users(deps, audit);
  const sessions = new Sessions(deps, audit);
  const logins = new LoginSessions(sessions, audit);
  const twofa = new TwoFactor(deps, audit, logins);
  const loginThrottle = new LoginThrottle(deps, audit);
  const passkeys = new Passkeys(deps, audit, logins, loginThrottle);
  const mailOutbox = new MailOutbox(deps);
  const emailVerification = new EmailVerification(deps, audit, mailOutbox);
  const accounts = new Accounts(
    deps,
    logins,
    audit,
    loginThrottle,
    twofa,
    { verification: emailVerification, outbox: mailOutbox },
    passkeys,
    (email, ip) => webhookEvents.signInFailed(email, ip),
  );
  const passwords = new PasswordFlows(deps, accounts, audit, mailOutbox, twofa, loginThrottle);
  const projects = new Projects(deps, audit);
  const keyCache = new KeyCache(deps);
  const keyMetering = new KeyMetering(deps, audit);
  const keyCreators = new KeyCreators(deps);
  const keyChecker = new KeyChecker(deps, keyCache, users, audit, keyMetering, keyCreators);
  const usage = new UsageBuffer(deps);
  const keyVerifier = new KeyVerifier(deps, keyChecker, usage, (key, limit) =>
    webhookEvents.rateLimited(key, limit),
  );
  const keyLeases = new KeyLeases(deps);
  const apiKeys = new ApiKeys(deps, projects, audit, keyMetering);
  const orgs = new Orgs(deps, audit, users, apiKeys);
  apiKeys.actInOrgs((caller, orgId) => orgs.callerFor(caller, orgId));

  let closed = false;
  return {
    deps,
    audit,
    users,
    sessions,
    accounts,
    apiKeys,
    keyViews: new KeyViews(deps),
    projects,
    keyVerifier,
    keyLeases,
    keyExchange: new KeyExchange(deps, users, keyCache, keyCreators),
    keyMetering,
    ownerLimits: new OwnerLimits(deps, audit),
    usageReports: new UsageReports(deps, usage, keyLeases),
    twofa,
    emailVerification,
    passwords,
    passkeys,
    reauthentication: new Reauthentication(accounts, twofa, sessions, audit, passkeys),
    mailOutbox,
    leaks: new LeakReports(deps, apiKeys, audit),
    orgs,
    invitations: new Invitations(deps, orgs, mailOutbox),
    webhooks: new WebhookEndpoints(deps, audit, webhookEvents),
    webhookEvents,
    webhookSender,
    scheduler,
    async close() {
      if (closed) return;
      closed = true;
      // Accepted reset requests are stored, then mail committed so far goes out (bounded),
      // before the store closes.
      await passwords.drain();
      await mailOutbox.close();
      await usage.close();
      await keyMetering.close();
      await keyChecker.drain();
      await scheduler.close();
      await webhookEvents.drain();
      await webhookSender.close();
    },
  };
}
