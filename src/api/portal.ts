/**
 * The portal's browser-session endpoints. Tokens travel in httpOnly cookies, so the
 * bodies here never carry them; the rest of the portal calls the ordinary /v1 API.
 */
import { z } from "zod";

export const PortalSession = z.object({
  /** Seconds until the access-token cookie expires; the portal then refreshes silently. */
  expires_in: z.number(),
});

export type PortalSessionT = z.infer<typeof PortalSession>;

/** What the portal shows of the instance's settings. */
export const PortalMeta = z.object({
  key_prefix: z.string(),
  /** LATCHKEY_REQUIRE_VERIFIED_EMAIL: keys need a verified address. */
  require_verified_email: z.boolean(),
});
export type PortalMetaT = z.infer<typeof PortalMeta>;
