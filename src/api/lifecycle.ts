/** Wire schemas of the account-lifecycle routes (SPEC §9): passwords and email verification. */
import { z } from "zod";
import { AuthenticationCredential } from "./passkeys.js";

// Length and common-password rules are checked by the service, so the message names the rule.
const password = z.string().min(1).max(1024);
const email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ message: "must be an email address" }));
/** A mailed one-time token (`lkv_…`, `lkp_…`): opaque to clients. */
const oneTimeToken = z.string().trim().min(1).max(200);
const totpCode = z
  .string()
  .trim()
  .regex(/^[0-9]{6}$/, "must be 6 digits");
const backupCode = z.string().trim().min(8).max(32);

export const PasswordChangeBody = z.strictObject({
  current_password: password,
  new_password: password,
});

export const PasswordChanged = z.object({
  sessions_ended: z.number().describe("sessions (refresh-token families) this change ended"),
});

export const PasswordResetBody = z.strictObject({ email });

export const PasswordResetAccepted = z.object({
  accepted: z.literal(true),
  message: z.string(),
});

export const PasswordResetConfirmBody = z
  .strictObject({
    token: oneTimeToken,
    new_password: password,
    code: totpCode.optional().describe("with 2FA on: a current TOTP code"),
    backup_code: backupCode.optional().describe("with 2FA on: a backup code instead"),
  })
  .refine((body) => body.code === undefined || body.backup_code === undefined, {
    message: "send `code` or `backup_code`, not both",
    path: ["code"],
  });

/**
 * Step-up (SPEC §9): the password, and with 2FA on a TOTP or backup code; or a passkey's
 * answer to `POST /v1/auth/passkeys/reauthenticate/options`.
 */
export const ReauthenticateBody = z
  .strictObject({
    password: password.optional(),
    code: totpCode.optional().describe("with 2FA on: a current TOTP code"),
    backup_code: backupCode.optional().describe("with 2FA on: a backup code instead"),
    passkey: AuthenticationCredential.optional().describe(
      "instead of the password: a passkey's answer (with user verification)",
    ),
  })
  .refine((body) => (body.password === undefined) !== (body.passkey === undefined), {
    message: "send `password` (with `code` or `backup_code` when 2FA is on) or `passkey`",
    path: ["password"],
  })
  .refine((body) => body.code === undefined || body.backup_code === undefined, {
    message: "send `code` or `backup_code`, not both",
    path: ["code"],
  })
  .refine(
    (body) =>
      body.passkey === undefined || (body.code === undefined && body.backup_code === undefined),
    { message: "a passkey needs no `code` or `backup_code`", path: ["passkey"] },
  );

/** A fresh access token for the same session; its refresh token is unchanged. */
export const Reauthenticated = z.object({
  access_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.number(),
  auth_time: z.string().describe("when this reauthentication happened (ISO 8601)"),
  step_up_expires_at: z
    .string()
    .describe("until when sensitive actions are allowed without reauthenticating again"),
});

/** The portal's answer: the access token travels in its httpOnly cookie. */
export const PortalReauthenticated = Reauthenticated.omit({ access_token: true, token_type: true });

export const EmailVerifyBody = z.strictObject({ token: oneTimeToken });

export const EmailVerified = z.object({
  email: z.string(),
  email_verified: z.literal(true),
  previous_email: z
    .string()
    .optional()
    .describe("set when the link was an email change's: the address the account had before"),
});

/** Change the account's address (step-up): a link to the new one moves the account there. */
export const EmailChangeBody = z.strictObject({ email });

export const EmailVerificationSent = z.object({ sent: z.literal(true), email: z.string() });

/** The one answer of `POST /v1/auth/password/reset`, whatever the email. */
export const RESET_ACCEPTED: PasswordResetAcceptedT = {
  accepted: true,
  message: "if an account uses this email, a link to reset its password has been sent",
};

export type ReauthenticatedT = z.infer<typeof Reauthenticated>;
export type PasswordChangedT = z.infer<typeof PasswordChanged>;
export type PasswordResetAcceptedT = z.infer<typeof PasswordResetAccepted>;
export type EmailVerifiedT = z.infer<typeof EmailVerified>;
export type EmailVerificationSentT = z.infer<typeof EmailVerificationSent>;
export type ReauthenticateBodyT = z.infer<typeof ReauthenticateBody>;
