import type { WebAuthnConfig } from "../../config.js";

/**
 * Whether a ceremony's origin (from the browser's client data) may speak for this relying
 * party: one of the configured origins; in development (none configured), any port of
 * localhost — the one host browsers let use WebAuthn over plain http.
 */
export function isAllowedOrigin(config: WebAuthnConfig, origin: string): boolean {
  if (config.origins) return config.origins.includes(origin);
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return (
    (url.protocol === "http:" || url.protocol === "https:") &&
    url.hostname === config.rpId &&
    url.origin === origin
  );
}

/** The challenge and origin inside a ceremony's clientDataJSON (base64url JSON), if readable. */
export function readClientData(
  clientDataJSON: string,
): { challenge: string; origin: string; type: string } | null {
  try {
    const data: unknown = JSON.parse(Buffer.from(clientDataJSON, "base64url").toString("utf8"));
    if (typeof data !== "object" || data === null) return null;
    const { challenge, origin, type } = data as Record<string, unknown>;
    if (typeof challenge !== "string" || typeof origin !== "string" || typeof type !== "string")
      return null;
    return { challenge, origin, type };
  } catch {
    return null;
  }
}
