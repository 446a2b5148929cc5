import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { toPasskey, toTokenPair } from "../../api/mappers.js";
import {
  CeremonyOptions,
  Passkey,
  PasskeyList,
  PasskeyLoginBody,
  PasskeyLoginOptionsBody,
  PasskeyRegisterBody,
  PasskeyRenameBody,
} from "../../api/passkeys.js";
import { ErrorBody, IdParams, NoContent, TokenPair } from "../../api/schemas.js";
import type { Services } from "../../services/index.js";
import { actorOfRequest, principalOf, requestMeta } from "../request.js";
import { stepUp } from "../step-up.js";

const bearer = [{ bearer: [] }];
const tags = ["passkeys"];
// Passkeys are a person's: a session credential only, like 2FA (SPEC §3).
const session = { auth: "session" } as const;
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody, 429: ErrorBody };

/** Challenges and sign-in answers: no cache may keep them. */
function noStore(reply: FastifyReply): void {
  reply.header("cache-control", "no-store");
}

/**
 * The browser's JSON, checked for shape by zod; its inner fields (CBOR, signatures, client
 * data) are checked by the WebAuthn verification.
 */
const asRegistration = (value: unknown) => value as RegistrationResponseJSON;
export const asAssertion = (value: unknown) => value as AuthenticationResponseJSON;

/** SPEC §9: passkeys (WebAuthn) — registration, list, rename, remove; passkey sign-in. */
export function passkeyRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { passkeys } = services;

  app.get(
    "/v1/auth/passkeys",
    {
      config: session,
      schema: { tags, security: bearer, response: { 200: PasskeyList, ...errors } },
    },
    async (request) => ({
      passkeys: (await passkeys.list(principalOf(request).user.id)).map(toPasskey),
    }),
  );

  // Adding a way to sign in is as sensitive as removing one: a stolen hours-old token must not
  // plant its own passkey. Both ceremony steps ask for a recent authentication.
  app.post(
    "/v1/auth/passkeys/register/options",
    {
      config: session,
      preHandler: stepUp(services, "adding a passkey"),
      schema: {
        tags,
        summary: "Start registering a passkey (needs a recent authentication: step-up)",
        security: bearer,
        response: { 200: CeremonyOptions, ...errors },
      },
    },
    async (request, reply) => {
      const { user } = principalOf(request);
      noStore(reply);
      return { ...(await passkeys.registrationOptions({ id: user.id, email: user.email })) };
    },
  );

  app.post(
    "/v1/auth/passkeys/register",
    {
      config: session,
      preHandler: stepUp(services, "adding a passkey"),
      schema: {
        tags,
        summary: "Finish registering a passkey with the browser's answer",
        security: bearer,
        body: PasskeyRegisterBody,
        response: { 201: Passkey, ...errors },
      },
    },
    async (request, reply) => {
      const { user } = principalOf(request);
      const view = await passkeys.register(
        user,
        asRegistration(request.body.credential),
        request.body.name,
        requestMeta(request),
        actorOfRequest(request),
      );
      return reply.status(201).send(toPasskey(view));
    },
  );

  app.patch(
    "/v1/auth/passkeys/:id",
    {
      config: session,
      schema: {
        tags,
        summary: "Rename a passkey",
        security: bearer,
        params: IdParams,
        body: PasskeyRenameBody,
        response: { 200: Passkey, 404: ErrorBody, ...errors },
      },
    },
    async (request) => {
      const { user } = principalOf(request);
      const view = await passkeys.rename(
        user.id,
        request.params.id,
        request.body.name,
        requestMeta(request),
        actorOfRequest(request),
      );
      return toPasskey(view);
    },
  );

  app.delete(
    "/v1/auth/passkeys/:id",
    {
      config: session,
      preHandler: stepUp(services, "removing a passkey"),
      schema: {
        tags,
        summary: "Remove a passkey (needs a recent authentication: step-up)",
        security: bearer,
        params: IdParams,
        response: { 204: NoContent, 404: ErrorBody, ...errors },
      },
    },
    async (request, reply) => {
      const { user } = principalOf(request);
      await passkeys.remove(
        user.id,
        request.params.id,
        requestMeta(request),
        actorOfRequest(request),
      );
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/v1/auth/passkeys/login/options",
    {
      schema: {
        tags,
        summary:
          "Start a passkey sign-in: passwordless, or with `mfa_token` as the second step after the password",
        body: PasskeyLoginOptionsBody,
        response: { 200: CeremonyOptions, ...errors },
      },
    },
    async (request, reply) => {
      noStore(reply);
      return { ...(await passkeys.loginOptions(request.body.mfa_token, requestMeta(request))) };
    },
  );

  app.post(
    "/v1/auth/passkeys/login",
    {
      schema: {
        tags,
        summary: "Sign in with a passkey's answer to the options",
        body: PasskeyLoginBody,
        response: { 200: TokenPair, ...errors },
      },
    },
    async (request, reply) => {
      noStore(reply);
      const tokens = await passkeys.login(
        asAssertion(request.body.credential),
        request.body.mfa_token,
        requestMeta(request),
      );
      return toTokenPair(tokens);
    },
  );

  app.post(
    "/v1/auth/passkeys/reauthenticate/options",
    {
      config: session,
      schema: {
        tags,
        summary:
          "Start a reauthentication with a passkey; send the answer as `passkey` to POST /v1/auth/reauthenticate",
        security: bearer,
        response: { 200: CeremonyOptions, ...errors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      noStore(reply);
      const options = await passkeys.reauthenticationOptions(
        principal.user.id,
        principal.sessionId!,
        requestMeta(request),
      );
      return { ...options };
    },
  );
}
