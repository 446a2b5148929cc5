/**
 * The `latchkey` package: a typed client and a verifier for services. The framework guards
 * are subpath exports (`latchkey/fastify`, `latchkey/express`, `latchkey/hono`), so that a
 * service gets neither the code nor the types of the frameworks it does not use.
 */
export { Latchkey, type LatchkeyOptions } from "./client.js";
export {
  LatchkeyApiError,
  LatchkeyNetworkError,
  type ErrorCode,
  type FieldProblem,
} from "./errors.js";
export {
  createVerifier,
  type Metering,
  type NamedLimitState,
  type Principal,
  type Verifier,
  type VerifierOptions,
  type VerifyOptions,
  type VerifyResult,
} from "./verifier.js";
export {
  verifyWebhook,
  WebhookVerificationError,
  type VerifyWebhookOptions,
  type WebhookEvent,
  type WebhookHeaders,
  type WebhookVerificationErrorCode,
} from "./webhooks.js";
