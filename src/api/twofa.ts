/** Wire schemas of the two-factor routes (SPEC §3); the MFA login body is MfaLoginBody in schemas.ts. */
import { z } from "zod";

const totpCode = z
  .string()
  .trim()
  .regex(/^[0-9]{6}$/, "must be the 6-digit code from the authenticator app");

/** A current TOTP code or one backup code (`4-4-4` groups), as `code` or `backup_code`. */
const codeOrBackupCode = z
  .string()
  .trim()
  .min(6, "must be a 6-digit code or a backup code")
  .max(32, "must be a 6-digit code or a backup code");

export const TwoFactorSetupResponse = z.object({
  secret: z.string().describe("base32; enter it by hand if the QR code cannot be scanned"),
  otpauth_url: z.string(),
  qr_svg: z.string().describe("the otpauth URL as an SVG QR code"),
});

export const TwoFactorVerifyBody = z.strictObject({ code: totpCode });
export const BackupCodesResponse = z.object({
  backup_codes: z.array(z.string()).describe("shown this once; each works once"),
});

export const TwoFactorStatus = z.object({
  enabled: z.boolean(),
  enabled_at: z.string().nullable(),
  /** A setup is waiting for its first code. */
  pending: z.boolean(),
  backup_codes_remaining: z.number(),
});

export const TwoFactorCodeBody = z
  .strictObject({
    code: codeOrBackupCode.optional(),
    backup_code: codeOrBackupCode.optional(),
  })
  .refine((body) => (body.code === undefined) !== (body.backup_code === undefined), {
    message: "send `code` (a TOTP code or a backup code), or `backup_code`",
    path: ["code"],
  });

export const TwoFactorDisabled = z.object({ enabled: z.literal(false) });

export type TwoFactorSetupResponseT = z.infer<typeof TwoFactorSetupResponse>;
export type TwoFactorStatusT = z.infer<typeof TwoFactorStatus>;
export type BackupCodesResponseT = z.infer<typeof BackupCodesResponse>;
