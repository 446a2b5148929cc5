import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { sessionOfActor } from "../../core/actor.js";
import { LatchkeyError, tooManyAttempts } from "../../core/errors.js";
import { newId } from "../../infra/ids.js";
import { sha256 } from "../../infra/secrets.js";
import { DuplicateError, type ChallengePurpose, type PasskeyRow } from "../../store/port.js";
import type { LoginSessions, RequestMeta } from "../accounts/login.js";
import type { LoginThrottle } from "../accounts/login-throttle.js";
import { endOtherSessions, type SessionTokens } from "../accounts/sessions.js";
import type { AuditLog } from "../audit/audit.js";
import type { Deps } from "../deps.js";
import { MfaTokens } from "../twofa/mfa-tokens.js";
import { isAllowedOrigin, readClientData } from "./relying-party.js";

/** A ceremony's challenge lives this long (the browser's own timeout is the same). */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** Passkeys one account may hold. */
export const MAX_PASSKEYS = 20;
/** Sign-in ceremonies (options) one address may start per minute. */
const OPTIONS_PER_MINUTE = 60;

/** A passkey as its owner sees it: never its key material. */
export interface PasskeyView {
  id: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  deviceType: "singleDevice" | "multiDevice";
  backedUp: boolean;
  transports: string[];
}

/**
 * RFC 8176 `amr` of a passkey assertion: `hwk` (a key held by an authenticator), `user`
 * (a presence test, which every assertion passes) and `mfa` when the sign-in used more than
 * one factor — after the password, or with user verification (PIN or biometric).
 */
export function passkeyAmr(userVerified: boolean, afterPassword: boolean): string[] {
  if (afterPassword) return ["pwd", "hwk", "user", "mfa"];
  return userVerified ? ["hwk", "user", "mfa"] : ["hwk", "user"];
}

function invalid(message = "the passkey could not be verified"): LatchkeyError {
  return new LatchkeyError("passkey_invalid", message);
}

function toView(row: PasskeyRow): PasskeyView {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    deviceType: row.device_type === "multiDevice" ? "multiDevice" : "singleDevice",
    backedUp: row.backed_up === 1,
    transports: transportsOf(row),
  };
}

/** The transports a passkey was registered with (stored as a JSON list). */
function transportsOf(row: PasskeyRow): AuthenticatorTransportFuture[] {
  return JSON.parse(row.transports) as AuthenticatorTransportFuture[];
}

/** The WebAuthn user handle: the account id's bytes (no email or other personal data). */
function userHandle(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId, "utf8"));
}

/**
 * Passkeys (WebAuthn, SPEC §9) with `@simplewebauthn/server`: registration, list, rename,
 * remove; a passkey as the second step of a password sign-in (in place of a TOTP code), as a
 * passwordless sign-in (user verification required), and as proof for a reauthentication.
 *
 * Each ceremony's challenge is stored (as SHA-256) with what it is for and whom, and spent by
 * a conditional UPDATE before the answer is checked, so an answer works once however requests
 * race; the signature counter is advanced only from the value that was read.
 */
export class Passkeys {
  private readonly mfaTokens: MfaTokens;

  constructor(
    private readonly deps: Deps,
    private readonly audit: AuditLog,
    private readonly logins: LoginSessions,
    /** A passkey sign-in lifts a password-sign-in suspension (SECURITY.md, "Sign-in throttling"). */
    private readonly throttle: LoginThrottle | null = null,
  ) {
    this.mfaTokens = new MfaTokens(deps);
  }

  private get rp() {
    return this.deps.config.webauthn;
  }

  async list(userId: string): Promise<PasskeyView[]> {
    return (await this.deps.store.passkeys.listByUser(userId)).map(toView);
  }

  async count(userId: string): Promise<number> {
    return this.deps.store.passkeys.countByUser(userId);
  }

  /** Options for `navigator.credentials.create` (a discoverable credential, so it can sign in alone). */
  async registrationOptions(user: {
    id: string;
    email: string;
  }): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.deps.store.passkeys.listByUser(user.id);
    if (existing.length >= MAX_PASSKEYS)
      throw new LatchkeyError(
        "conflict",
        `an account holds at most ${MAX_PASSKEYS} passkeys; remove one first`,
      );
    const challenge = await this.issueChallenge("register", user.id, null);
    return generateRegistrationOptions({
      rpName: this.rp.rpName,
      rpID: this.rp.rpId,
      userName: user.email,
      userDisplayName: user.email,
      userID: userHandle(user.id),
      challenge,
      timeout: CHALLENGE_TTL_MS,
      attestationType: "none",
      excludeCredentials: existing.map((row) => ({
        id: row.credential_id,
        transports: transportsOf(row),
      })),
      authenticatorSelection: { residentKey: "required", userVerification: "preferred" },
    });
  }

  async register(
    user: { id: string },
    credential: RegistrationResponseJSON,
    name: string | undefined,
    meta: RequestMeta,
    actor: string,
  ): Promise<PasskeyView> {
    const { challenge, origin } = await this.spendChallenge(
      credential.response.clientDataJSON,
      "register",
    );
    if (challenge.user_id !== user.id) throw invalid("the challenge was issued to someone else");
    let info;
    try {
      const result = await verifyRegistrationResponse({
        response: credential,
        expectedChallenge: challenge.raw,
        expectedOrigin: origin,
        expectedRPID: this.rp.rpId,
        requireUserVerification: false,
      });
      if (!result.verified) throw invalid();
      info = result.registrationInfo;
    } catch (error) {
      throw asInvalid(error);
    }
    const now = this.deps.now();
    const row: PasskeyRow = {
      id: newId(this.deps.random, "pk"),
      user_id: user.id,
      credential_id: info.credential.id,
      public_key: Buffer.from(info.credential.publicKey).toString("base64url"),
      counter: info.credential.counter,
      transports: JSON.stringify(
        info.credential.transports ?? credential.response.transports ?? [],
      ),
      device_type: info.credentialDeviceType,
      backed_up: info.credentialBackedUp ? 1 : 0,
      aaguid: info.aaguid,
      name: name ?? defaultName(info.credentialDeviceType, now),
      created_at: now,
      last_used_at: null,
    };
    try {
      await this.deps.store.passkeys.insert(row);
    } catch (error) {
      if (error instanceof DuplicateError)
        throw new LatchkeyError("conflict", "this passkey is already registered");
      throw error;
    }
    // A new factor (ASVS 7.4.3): every other session ends, so one a thief held cannot stay.
    const ended = await endOtherSessions(
      this.deps,
      user.id,
      sessionOfActor(actor),
      "passkey_added",
    );
    await this.audit.record({
      event: "passkey_added",
      userId: user.id,
      actor,
      ip: meta.ip,
      details: {
        passkey_id: row.id,
        name: row.name,
        device_type: row.device_type,
        sessions_ended: ended.length,
      },
    });
    return toView(row);
  }

  async rename(
    userId: string,
    id: string,
    name: string,
    meta: RequestMeta,
    actor: string,
  ): Promise<PasskeyView> {
    if (!(await this.deps.store.passkeys.rename(userId, id, name)))
      throw new LatchkeyError("not_found", "passkey not found");
    await this.audit.record({
      event: "passkey_renamed",
      userId,
      actor,
      ip: meta.ip,
      details: { passkey_id: id, name },
    });
    const row = (await this.deps.store.passkeys.listByUser(userId)).find((p) => p.id === id);
    if (!row) throw new LatchkeyError("not_found", "passkey not found");
    return toView(row);
  }

  async remove(userId: string, id: string, meta: RequestMeta, actor: string): Promise<void> {
    if (!(await this.deps.store.passkeys.remove(userId, id)))
      throw new LatchkeyError("not_found", "passkey not found");
    // Sessions the removed passkey signed in end with it, as every other one (ASVS 7.4.3).
    const ended = await endOtherSessions(
      this.deps,
      userId,
      sessionOfActor(actor),
      "passkey_removed",
    );
    await this.audit.record({
      event: "passkey_removed",
      userId,
      actor,
      ip: meta.ip,
      details: { passkey_id: id, sessions_ended: ended.length },
    });
  }

  /**
   * Options for `navigator.credentials.get` at sign-in. With the MFA token of a password step:
   * the user's passkeys, as the second factor. Without: any passkey of this site (discoverable),
   * with user verification, as the whole sign-in.
   */
  async loginOptions(
    mfaToken: string | undefined,
    meta: RequestMeta,
  ): Promise<PublicKeyCredentialRequestOptionsJSON> {
    await this.throttleOptions(meta);
    if (mfaToken === undefined) {
      const challenge = await this.issueChallenge("login", null, null);
      return generateAuthenticationOptions({
        rpID: this.rp.rpId,
        challenge,
        timeout: CHALLENGE_TTL_MS,
        userVerification: "required",
      });
    }
    const userId = await this.mfaTokens.userOf(mfaToken);
    const challenge = await this.issueChallenge("mfa", userId, sha256(mfaToken));
    return this.optionsFor(userId, challenge, "preferred");
  }

  /** Signs in with a passkey's answer to `loginOptions`. */
  async login(
    credential: AuthenticationResponseJSON,
    mfaToken: string | undefined,
    meta: RequestMeta,
  ): Promise<SessionTokens> {
    const { challenge, origin } = await this.spendChallenge(
      credential.response.clientDataJSON,
      mfaToken === undefined ? "login" : "mfa",
    );
    if (challenge.purpose === "mfa" && challenge.session_id !== sha256(mfaToken!))
      throw invalid("the challenge belongs to another sign-in");
    const checked = await this.checkAssertion(credential, challenge, origin, meta, {
      requireUserVerification: challenge.purpose === "login",
    });
    if (mfaToken !== undefined) {
      // The password step's token is spent with the second factor, once.
      await this.mfaTokens.spend(mfaToken);
    }
    await this.throttle?.clearUser(checked.userId);
    return this.logins.finish(
      checked.userId,
      passkeyAmr(checked.userVerified, mfaToken !== undefined),
      meta,
    );
  }

  /** Options for a reauthentication (step-up) of the signed-in user's session. */
  async reauthenticationOptions(
    userId: string,
    sessionId: string,
    meta: RequestMeta,
  ): Promise<PublicKeyCredentialRequestOptionsJSON> {
    await this.throttleOptions(meta);
    const challenge = await this.issueChallenge("reauthenticate", userId, sessionId);
    return this.optionsFor(userId, challenge, "required");
  }

  /** Checks a passkey's answer for a reauthentication of `sessionId`; its `amr`. */
  async verifyReauthentication(
    userId: string,
    sessionId: string,
    credential: AuthenticationResponseJSON,
    meta: RequestMeta,
  ): Promise<string[]> {
    const { challenge, origin } = await this.spendChallenge(
      credential.response.clientDataJSON,
      "reauthenticate",
    );
    if (challenge.user_id !== userId || challenge.session_id !== sessionId)
      throw invalid("the challenge belongs to another session");
    const checked = await this.checkAssertion(credential, challenge, origin, meta, {
      requireUserVerification: true,
    });
    return passkeyAmr(checked.userVerified, false);
  }

  private async optionsFor(
    userId: string,
    challenge: Uint8Array<ArrayBuffer>,
    userVerification: "required" | "preferred",
  ): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const passkeys = await this.deps.store.passkeys.listByUser(userId);
    if (passkeys.length === 0)
      throw new LatchkeyError("conflict", "this account has no passkey; register one first");
    return generateAuthenticationOptions({
      rpID: this.rp.rpId,
      challenge,
      timeout: CHALLENGE_TTL_MS,
      userVerification,
      allowCredentials: passkeys.map((row) => ({
        id: row.credential_id,
        transports: transportsOf(row),
      })),
    });
  }

  /** Verifies an assertion against the stored passkey and advances its counter. */
  private async checkAssertion(
    credential: AuthenticationResponseJSON,
    challenge: SpentChallenge,
    origin: string,
    meta: RequestMeta,
    options: { requireUserVerification: boolean },
  ): Promise<{ userId: string; userVerified: boolean }> {
    const passkey = await this.deps.store.passkeys.byCredentialId(credential.id);
    if (!passkey) throw invalid("this passkey is not registered here");
    if (challenge.user_id !== null && passkey.user_id !== challenge.user_id)
      throw invalid("this passkey belongs to another account");
    const handle = credential.response.userHandle;
    if (handle !== undefined && handle !== Buffer.from(passkey.user_id).toString("base64url"))
      throw invalid("the passkey's user does not match");
    const user = await this.deps.store.users.byId(passkey.user_id);
    if (!user || user.disabled === 1) throw invalid();
    let info;
    try {
      const result = await verifyAuthenticationResponse({
        response: credential,
        expectedChallenge: challenge.raw,
        expectedOrigin: origin,
        expectedRPID: this.rp.rpId,
        credential: {
          id: passkey.credential_id,
          publicKey: new Uint8Array(Buffer.from(passkey.public_key, "base64url")),
          counter: passkey.counter,
          transports: transportsOf(passkey),
        },
        requireUserVerification: options.requireUserVerification,
      });
      if (!result.verified) throw invalid();
      info = result.authenticationInfo;
    } catch (error) {
      await this.audit.record({
        event: "login_failed",
        userId: passkey.user_id,
        actor: null,
        ip: meta.ip,
        details: { method: "passkey", passkey_id: passkey.id, reason: reasonOf(error) },
      });
      throw asInvalid(error);
    }
    const used = await this.deps.store.passkeys.recordUse(
      passkey.id,
      passkey.counter,
      info.newCounter,
      this.deps.now(),
    );
    if (!used) throw invalid("the passkey was used at the same moment elsewhere; try again");
    return { userId: passkey.user_id, userVerified: info.userVerified };
  }

  private async issueChallenge(
    purpose: ChallengePurpose,
    userId: string | null,
    boundTo: string | null,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const bytes = new Uint8Array(this.deps.random.bytes(32));
    // The options carry it base64url-encoded; the browser signs that text.
    const challenge = Buffer.from(bytes).toString("base64url");
    const now = this.deps.now();
    await this.deps.store.passkeys.issueChallenge({
      challenge_hash: sha256(challenge),
      purpose,
      user_id: userId,
      session_id: boundTo,
      created_at: now,
      expires_at: now + CHALLENGE_TTL_MS,
      used_at: null,
    });
    return bytes;
  }

  /**
   * Spends the challenge the answer signs (read from its client data) and checks its origin
   * and purpose: from here on that answer can never be used again, valid or not.
   */
  private async spendChallenge(
    clientDataJSON: string,
    purpose: ChallengePurpose,
  ): Promise<{ challenge: SpentChallenge; origin: string }> {
    const data = readClientData(clientDataJSON);
    if (!data) throw invalid("clientDataJSON is not readable");
    if (!isAllowedOrigin(this.rp, data.origin))
      throw invalid(`origin ${data.origin} may not use passkeys of ${this.rp.rpId}`);
    const row = await this.deps.store.passkeys.spendChallenge(
      sha256(data.challenge),
      this.deps.now(),
    );
    if (!row || row.purpose !== purpose)
      throw invalid("the challenge expired or was already used: ask for new options");
    return { challenge: { ...row, raw: data.challenge }, origin: data.origin };
  }

  private async throttleOptions(meta: RequestMeta): Promise<void> {
    const window = await this.deps.limiter.hit(`passkey-options:${meta.ip ?? "-"}`, 60_000);
    if (window.count > OPTIONS_PER_MINUTE)
      throw tooManyAttempts("too many passkey sign-in attempts from this address", window.resetMs);
  }
}

interface SpentChallenge {
  raw: string;
  purpose: ChallengePurpose;
  user_id: string | null;
  session_id: string | null;
}

function defaultName(deviceType: string, now: number): string {
  const kind = deviceType === "multiDevice" ? "Synced passkey" : "Security key";
  return `${kind} (${new Date(now).toISOString().slice(0, 10)})`;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 200) : "unverified";
}

/** simplewebauthn throws plain errors for malformed or mismatching answers: a 401, never a 500. */
function asInvalid(error: unknown): LatchkeyError {
  if (error instanceof LatchkeyError) return error;
  return invalid(`the passkey could not be verified: ${reasonOf(error)}`);
}
