import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import {
  EmailChangeBody,
  EmailVerificationSent,
  EmailVerified,
  EmailVerifyBody,
  PasswordChangeBody,
  PasswordChanged,
  PasswordResetAccepted,
  PasswordResetBody,
  PasswordResetConfirmBody,
  RESET_ACCEPTED,
} from "../../api/lifecycle.js";
import { toPublicUser, toSession, toTokenPair, toWhoami } from "../../api/mappers.js";
import {
  ErrorBody,
  IdParams,
  Jwks,
  LoginBody,
  NoContent,
  RefreshBody,
  SessionList,
  SignupBody,
  SignupResponse,
  TokenPair,
  Whoami,
} from "../../api/schemas.js";
import { LatchkeyError } from "../../core/errors.js";
import type { Services } from "../../services/index.js";
import { fastSerializerCompiler } from "../compiled.js";
import { actorOfRequest, principalOf, requestMeta } from "../request.js";
import { stepUp } from "../step-up.js";
import { reauthenticateRoutes } from "../reauthenticate.js";

const bearer = [{ bearer: [] }];

export function authRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  // Passwords and email verification (SPEC §9).
  lifecycleRoutes(base, services);
  // Step-up before sensitive actions (SPEC §9).
  reauthenticateRoutes(base, services);

  app.post(
    "/v1/auth/signup",
    {
      schema: {
        tags: ["auth"],
        body: SignupBody,
        response: { 201: SignupResponse, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const user = await services.accounts.signup(request.body, requestMeta(request));
      return reply.status(201).send({ user: toPublicUser(user) });
    },
  );

  app.post(
    "/v1/auth/login",
    {
      schema: {
        tags: ["auth"],
        body: LoginBody,
        response: { 200: TokenPair, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
      },
    },
    async (request) => {
      const { email, password, code, backup_code, wait_ticket } = request.body;
      const tokens = await services.accounts.login(
        { email, password, code, backupCode: backup_code, waitTicket: wait_ticket },
        requestMeta(request),
      );
      return toTokenPair(tokens);
    },
  );

  app.post(
    "/v1/auth/refresh",
    { schema: { tags: ["auth"], body: RefreshBody, response: { 200: TokenPair, 401: ErrorBody } } },
    async (request) =>
      toTokenPair(await services.sessions.refresh(request.body.refresh_token, request.ip)),
  );

  app.post(
    "/v1/auth/logout",
    {
      config: { auth: "session" },
      schema: { tags: ["auth"], security: bearer, response: { 204: NoContent, 401: ErrorBody } },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      await services.sessions.end(principal.sessionId!, "logout");
      await services.audit.record({
        event: "logout",
        userId: principal.user.id,
        actor: actorOfRequest(request),
        ip: request.ip,
      });
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/v1/auth/sessions",
    {
      config: { auth: "session" },
      schema: { tags: ["auth"], security: bearer, response: { 200: SessionList, 401: ErrorBody } },
    },
    async (request) => {
      const principal = principalOf(request);
      const sessions = await services.sessions.list(principal.user.id, principal.sessionId);
      return { sessions: sessions.map(toSession) };
    },
  );

  app.delete(
    "/v1/auth/sessions/:id",
    {
      config: { auth: "session" },
      schema: {
        tags: ["auth"],
        security: bearer,
        params: IdParams,
        response: { 204: NoContent, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const ended = await services.sessions.endOwn(
        principal.user.id,
        request.params.id,
        "ended_by_user",
      );
      if (!ended) throw new LatchkeyError("not_found", "session not found");
      await services.audit.record({
        event: "session_ended",
        userId: principal.user.id,
        actor: actorOfRequest(request),
        ip: request.ip,
        details: { session_id: request.params.id },
      });
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/v1/auth/whoami",
    {
      config: { auth: "any" },
      schema: { tags: ["auth"], security: bearer, response: { 200: Whoami, 401: ErrorBody } },
      // Called on every request by services that check a key or token: compiled serialisation.
      serializerCompiler: fastSerializerCompiler,
    },
    // Not async: answered in this turn, with no promise.
    (request) => toWhoami(principalOf(request)),
  );

  app.get(
    "/.well-known/jwks.json",
    { schema: { tags: ["auth"], response: { 200: Jwks } } },
    // no-store like every API answer (the SDK keeps its own copy and refetches on a new kid).
    async () => services.deps.tokens.jwks(),
  );
}

/** SPEC §9: change and reset password, verify the email address. */
function lifecycleRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();

  app.post(
    "/v1/auth/password",
    {
      config: { auth: "session" },
      preHandler: stepUp(services, "changing the password"),
      schema: {
        tags: ["auth"],
        summary:
          "Change the password; ends the user's other sessions (needs a recent authentication)",
        security: bearer,
        body: PasswordChangeBody,
        response: {
          200: PasswordChanged,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { sessionsEnded } = await services.passwords.change(
        principal.user,
        principal.sessionId!,
        {
          currentPassword: request.body.current_password,
          newPassword: request.body.new_password,
        },
        requestMeta(request),
        actorOfRequest(request),
      );
      return { sessions_ended: sessionsEnded };
    },
  );

  app.post(
    "/v1/auth/password/reset",
    {
      schema: {
        tags: ["auth"],
        summary: "Mail a password-reset link; the same answer for any email",
        body: PasswordResetBody,
        response: { 202: PasswordResetAccepted, 400: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      await services.passwords.requestReset(request.body.email, requestMeta(request));
      return reply.status(202).send(RESET_ACCEPTED);
    },
  );

  app.post(
    "/v1/auth/password/reset/confirm",
    {
      schema: {
        tags: ["auth"],
        summary: "Set a new password with the mailed token (and a 2FA code when 2FA is on)",
        body: PasswordResetConfirmBody,
        response: { 200: PasswordChanged, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request) => {
      const { token, new_password, code, backup_code } = request.body;
      const { sessionsEnded } = await services.passwords.confirmReset(
        { token, newPassword: new_password, code, backupCode: backup_code },
        requestMeta(request),
      );
      return { sessions_ended: sessionsEnded };
    },
  );

  app.post(
    "/v1/auth/email/verify",
    {
      schema: {
        tags: ["auth"],
        summary: "Verify the email address with the token mailed at signup",
        body: EmailVerifyBody,
        response: { 200: EmailVerified, 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (request) => {
      const { email, changedFrom } = await services.emailVerification.verify(
        request.body.token,
        requestMeta(request),
      );
      return {
        email,
        email_verified: true as const,
        ...(changedFrom ? { previous_email: changedFrom } : {}),
      };
    },
  );

  app.post(
    "/v1/auth/email",
    {
      config: { auth: "session" },
      preHandler: stepUp(services, "changing the email address"),
      schema: {
        tags: ["auth"],
        summary:
          "Change the email address: a link mailed to the new one moves the account there (needs a recent authentication)",
        security: bearer,
        body: EmailChangeBody,
        response: {
          202: EmailVerificationSent,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          409: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { email } = await services.emailVerification.requestChange(
        principal.user,
        request.body.email,
        requestMeta(request),
        actorOfRequest(request),
      );
      return reply.status(202).send({ sent: true as const, email });
    },
  );

  app.post(
    "/v1/auth/email/verify/resend",
    {
      config: { auth: "session" },
      schema: {
        tags: ["auth"],
        summary: "Mail a new verification link (throttled)",
        security: bearer,
        response: { 202: EmailVerificationSent, 401: ErrorBody, 409: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      await services.emailVerification.resend(
        principal.user,
        requestMeta(request),
        actorOfRequest(request),
      );
      return reply.status(202).send({ sent: true as const, email: principal.user.email });
    },
  );
}
