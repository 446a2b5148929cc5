/**
 * Wire schemas of the passkey routes (SPEC §9, WebAuthn). The ceremony's options and the
 * browser's answers are the JSON forms WebAuthn Level 3 defines (what `@simplewebauthn/browser`
 * sends and expects); their inner fields are checked by the WebAuthn verification itself.
 */
import { z } from "zod";

const base64url = z
  .string()
  .max(16_384)
  .regex(/^[A-Za-z0-9_-]*$/, "must be base64url");

/** The browser's answer to a registration (`navigator.credentials.create`), as JSON. */
export const RegistrationCredential = z.looseObject({
  id: base64url.min(1),
  rawId: base64url.min(1),
  type: z.literal("public-key"),
  response: z.looseObject({
    clientDataJSON: base64url.min(1),
    attestationObject: base64url.min(1),
    transports: z.array(z.string().max(32)).max(10).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
});

/** The browser's answer to a sign-in (`navigator.credentials.get`), as JSON. */
export const AuthenticationCredential = z.looseObject({
  id: base64url.min(1),
  rawId: base64url.min(1),
  type: z.literal("public-key"),
  response: z.looseObject({
    clientDataJSON: base64url.min(1),
    authenticatorData: base64url.min(1),
    signature: base64url.min(1),
    userHandle: base64url.optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
});

const passkeyName = z.string().trim().min(1, "must not be empty").max(64);

/** Options for `navigator.credentials.create` / `.get` (PublicKeyCredential*OptionsJSON). */
export const CeremonyOptions = z
  .looseObject({ challenge: z.string() })
  .describe("WebAuthn options JSON: pass to startRegistration / startAuthentication");

export const PasskeyRegisterBody = z.strictObject({
  credential: RegistrationCredential,
  name: passkeyName.optional().describe("a label; default: the authenticator's kind and date"),
});

export const PasskeyLoginOptionsBody = z.strictObject({
  mfa_token: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe("the second step of a password sign-in; without it: passwordless sign-in"),
});

export const PasskeyLoginBody = z.strictObject({
  credential: AuthenticationCredential,
  mfa_token: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe("as given to the options call: the passkey is the second factor"),
});

export const PasskeyRenameBody = z.strictObject({ name: passkeyName });

export const Passkey = z.object({
  id: z.string(),
  name: z.string(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  device_type: z
    .enum(["singleDevice", "multiDevice"])
    .describe("multiDevice: a synced passkey (e.g. in a password manager)"),
  backed_up: z.boolean(),
  transports: z.array(z.string()),
});

export const PasskeyList = z.object({ passkeys: z.array(Passkey) });

export type PasskeyT = z.infer<typeof Passkey>;
export type PasskeyListT = z.infer<typeof PasskeyList>;
