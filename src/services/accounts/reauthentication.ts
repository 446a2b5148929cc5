import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { LatchkeyError } from "../../core/errors.js";
import type { AuditLog } from "../audit/audit.js";
import type { Accounts, SecondFactor } from "./accounts.js";
import type { RequestMeta } from "./login.js";
import type { Sessions } from "./sessions.js";

/** What a person shows to reauthenticate: the password, plus the second factor when 2FA is on. */
export interface PasswordProof {
  password: string;
  code?: string | undefined;
  backupCode?: string | undefined;
}

/** …or a passkey's answer (with user verification) to `POST /v1/auth/passkeys/reauthenticate/options`. */
export interface PasskeyProof {
  passkey: AuthenticationResponseJSON;
}

/** Checks a passkey's answer for a reauthentication of one session (the Passkeys service). */
export interface PasskeyReauthenticator {
  verifyReauthentication(
    userId: string,
    sessionId: string,
    credential: AuthenticationResponseJSON,
    meta: RequestMeta,
  ): Promise<string[]>;
}

export interface Reauthenticated {
  accessToken: string;
  accessTtlSeconds: number;
  /** The session's new auth time (epoch ms). */
  authTime: number;
}

/**
 * `POST /v1/auth/reauthenticate` (SPEC §9 step-up): the signed-in person proves who they are
 * again, through the same checks as sign-in — the password under the sign-in throttles, the
 * second factor under the 2FA lockout — and the session's auth time becomes now. Nothing else
 * about the session changes: its refresh token stays, and refreshes carry the new auth time.
 */
export class Reauthentication {
  constructor(
    private readonly accounts: Accounts,
    private readonly secondFactor: SecondFactor | null,
    private readonly sessions: Sessions,
    private readonly audit: AuditLog,
    private readonly passkeys: PasskeyReauthenticator | null = null,
  ) {}

  async reauthenticate(
    user: { id: string; email: string },
    sessionId: string,
    proof: PasswordProof | PasskeyProof,
    meta: RequestMeta,
    actor: string,
  ): Promise<Reauthenticated> {
    const amr =
      "passkey" in proof
        ? await this.withPasskey(user.id, sessionId, proof, meta)
        : await this.withPassword(user, proof, meta);
    const fresh = await this.sessions.reauthenticated(user.id, sessionId, amr);
    if (!fresh) throw new LatchkeyError("token_invalid", "session has ended");
    await this.audit.record({
      event: "reauthenticated",
      userId: user.id,
      actor,
      ip: meta.ip,
      details: { amr },
    });
    return fresh;
  }

  private async withPasskey(
    userId: string,
    sessionId: string,
    proof: PasskeyProof,
    meta: RequestMeta,
  ): Promise<string[]> {
    if (!this.passkeys) throw new LatchkeyError("invalid_request", "passkeys are not available");
    return this.passkeys.verifyReauthentication(userId, sessionId, proof.passkey, meta);
  }

  private async withPassword(
    user: { id: string; email: string },
    proof: PasswordProof,
    meta: RequestMeta,
  ): Promise<string[]> {
    const passwordOwner = await this.accounts.checkPassword(user.email, proof.password, meta, {
      signedIn: true,
    });
    if (passwordOwner !== user.id)
      throw new LatchkeyError("invalid_credentials", "email or password is incorrect");
    const amr = ["pwd"];
    const factor = this.secondFactor;
    if (factor && (await factor.isEnabled(user.id))) {
      if (proof.code === undefined && proof.backupCode === undefined)
        throw new LatchkeyError(
          "mfa_required",
          "two-factor authentication is on: send `code` (or `backup_code`) with the password",
        );
      await factor.verifyReauthenticationCode(
        user.id,
        { code: proof.code, backupCode: proof.backupCode },
        meta,
      );
      amr.push("otp");
    }
    return amr;
  }
}
