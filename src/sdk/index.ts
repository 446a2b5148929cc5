/** The `latchkey` package: a typed client, a verifier for services, and framework adapters. */
export { Latchkey, type LatchkeyOptions } from "./client.js";
export {
  LatchkeyApiError,
  LatchkeyNetworkError,
  type ErrorCode,
  type FieldProblem,
} from "./errors.js";
export {
  createVerifier,
  type Principal,
  type Verifier,
  type VerifierOptions,
  type VerifyOptions,
  type VerifyResult,
} from "./verifier.js";
export { fastifyGuard, type FastifyGuard, type FastifyGuardOptions } from "./adapters/fastify.js";
export { expressGuard, type ExpressGuard, type ExpressGuardOptions } from "./adapters/express.js";
export {
  honoGuard,
  type HonoGuard,
  type HonoGuardOptions,
  type LatchkeyVariables,
} from "./adapters/hono.js";
