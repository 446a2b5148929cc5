/**
 * The browser's half of a passkey ceremony (WebAuthn), with @simplewebauthn/browser: the
 * server's options go to `navigator.credentials`, the answer goes back to the server.
 */
import {
  browserSupportsWebAuthn,
  startAuthentication,
  startRegistration,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/browser";
import { anonymous, api, localError } from "./api.js";
import type { Passkey } from "./types.js";

export const passkeysSupported = (): boolean => browserSupportsWebAuthn();

/** The browser's answer; a cancelled or timed-out prompt becomes a plain message. */
async function ceremony<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (caught) {
    const name = caught instanceof Error ? caught.name : "";
    if (name === "NotAllowedError" || name === "AbortError")
      throw localError("The passkey prompt was cancelled or timed out. Try again.");
    if (name === "InvalidStateError") throw localError("This passkey is already registered.");
    throw localError(caught instanceof Error ? caught.message : "The passkey request failed.");
  }
}

/** Registers a new passkey on this device (or a security key, or a phone). */
export async function addPasskey(): Promise<Passkey> {
  const optionsJSON = await api.post<PublicKeyCredentialCreationOptionsJSON>(
    "/v1/auth/passkeys/register/options",
  );
  const credential = await ceremony(() => startRegistration({ optionsJSON }));
  return api.post<Passkey>("/v1/auth/passkeys/register", { credential });
}

/** Signs in with a passkey: passwordless, or with `mfaToken` as the second step. */
export async function signInWithPasskey(mfaToken?: string): Promise<void> {
  const step = mfaToken === undefined ? {} : { mfa_token: mfaToken };
  const optionsJSON = await anonymous<PublicKeyCredentialRequestOptionsJSON>(
    "/v1/auth/passkeys/login/options",
    step,
  );
  const credential = await ceremony(() => startAuthentication({ optionsJSON }));
  await anonymous("/v1/portal/passkeys/login", { credential, ...step });
}

/** Step-up with a passkey: the fresh access token arrives as the session cookie. */
export async function reauthenticateWithPasskey(): Promise<void> {
  const optionsJSON = await api.post<PublicKeyCredentialRequestOptionsJSON>(
    "/v1/auth/passkeys/reauthenticate/options",
  );
  const credential = await ceremony(() => startAuthentication({ optionsJSON }));
  await api.post("/v1/portal/reauthenticate", { passkey: credential });
}
