import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { toTokenPair, toTwoFactorSetup, toTwoFactorStatus } from "../../api/mappers.js";
import { ErrorBody, MfaLoginBody, TokenPair } from "../../api/schemas.js";
import {
  BackupCodesResponse,
  TwoFactorCodeBody,
  TwoFactorDisabled,
  TwoFactorSetupResponse,
  TwoFactorStatus,
  TwoFactorVerifyBody,
} from "../../api/twofa.js";
import type { Services } from "../../services/index.js";
import { actorOfRequest, principalOf, requestMeta } from "../request.js";
import { stepUp } from "../step-up.js";

const bearer = [{ bearer: [] }];
const tags = ["2fa"];
// A session credential only: SPEC §3 "changing 2FA state requires a session credential".
const session = { auth: "session" } as const;
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody, 429: ErrorBody };

/** Secrets and backup codes are shown once: no cache may keep them. */
function noStore(reply: FastifyReply): void {
  reply.header("cache-control", "no-store");
}

export function twofaRoutes(base: FastifyInstance, services: Services): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { twofa } = services;

  // Turning 2FA on needs a recent authentication too: with a stolen hours-old token, enrolling
  // the thief's authenticator would end the owner's sessions and hold the backup codes.
  app.post(
    "/v1/auth/2fa/setup",
    {
      config: session,
      preHandler: stepUp(services, "turning on two-factor authentication"),
      schema: {
        tags,
        summary: "Start enrolling an authenticator app (needs a recent authentication: step-up)",
        security: bearer,
        response: { 200: TwoFactorSetupResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { user } = principalOf(request);
      noStore(reply);
      return toTwoFactorSetup(await twofa.setup({ id: user.id, email: user.email }));
    },
  );

  app.post(
    "/v1/auth/2fa/verify",
    {
      config: session,
      preHandler: stepUp(services, "turning on two-factor authentication"),
      schema: {
        tags,
        summary: "Turn 2FA on with a first code (needs a recent authentication: step-up)",
        security: bearer,
        body: TwoFactorVerifyBody,
        response: { 200: BackupCodesResponse, ...errors },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const codes = await twofa.verify(
        p.user.id,
        request.body.code,
        requestMeta(request),
        actorOfRequest(request),
        p.sessionId,
      );
      noStore(reply);
      return { backup_codes: codes };
    },
  );

  app.get(
    "/v1/auth/2fa/status",
    {
      config: session,
      schema: { tags, security: bearer, response: { 200: TwoFactorStatus, ...errors } },
    },
    async (request) => toTwoFactorStatus(await twofa.status(principalOf(request).user.id)),
  );

  app.post(
    "/v1/auth/2fa/disable",
    {
      config: session,
      preHandler: stepUp(services, "disabling two-factor authentication"),
      schema: {
        tags,
        summary: "Turn 2FA off with a code (needs a recent authentication: step-up)",
        security: bearer,
        body: TwoFactorCodeBody,
        response: { 200: TwoFactorDisabled, ...errors },
      },
    },
    async (request) => {
      const p = principalOf(request);
      await twofa.disable(
        p.user.id,
        { code: request.body.code, backupCode: request.body.backup_code },
        requestMeta(request),
        actorOfRequest(request),
        p.sessionId,
      );
      return { enabled: false as const };
    },
  );

  app.post(
    "/v1/auth/2fa/backup-codes",
    {
      config: session,
      preHandler: stepUp(services, "regenerating backup codes"),
      schema: {
        tags,
        summary: "A new set of backup codes (needs a recent authentication: step-up)",
        security: bearer,
        body: TwoFactorCodeBody,
        response: { 200: BackupCodesResponse, ...errors },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const codes = await twofa.regenerateBackupCodes(
        p.user.id,
        { code: request.body.code, backupCode: request.body.backup_code },
        requestMeta(request),
        actorOfRequest(request),
      );
      noStore(reply);
      return { backup_codes: codes };
    },
  );

  app.post(
    "/v1/auth/login/mfa",
    {
      schema: {
        tags: ["auth"],
        body: MfaLoginBody,
        response: { 200: TokenPair, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request) => {
      const { mfa_token, code, backup_code } = request.body;
      const tokens = await twofa.completeLogin(
        mfa_token,
        { code, backupCode: backup_code },
        requestMeta(request),
      );
      return toTokenPair(tokens);
    },
  );
}
