import pino, { type DestinationStream, type Logger } from "pino";

/** Paths never written in clear: credentials in headers and in any body-like object. */
export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers['x-csrf-token']",
  "res.headers['set-cookie']",
  "*.password",
  "*.access_token",
  "*.refresh_token",
  "*.mfa_token",
  "*.key",
  "*.secret",
  "*.code",
  "*.backup_code",
  "*.backup_codes",
  "*.token",
  "*.authorization",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "latchkey" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
