import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import fastifyCookie from "@fastify/cookie";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { toPortalSession, toPublicUser } from "../api/mappers.js";
import { PortalReauthenticated, ReauthenticateBody } from "../api/lifecycle.js";
import { PasskeyLoginBody } from "../api/passkeys.js";
import { PortalMeta, PortalSession } from "../api/portal.js";
import {
  ErrorBody,
  LoginBody,
  MfaLoginBody,
  NoContent,
  SignupBody,
  SignupResponse,
} from "../api/schemas.js";
import { actorOf } from "../core/actor.js";
import { LatchkeyError } from "../core/errors.js";
import type { Services } from "../services/index.js";
import type { SessionTokens } from "../services/accounts/sessions.js";
import {
  checkCsrf,
  cookieNames,
  isSecureRequest,
  readCookies,
  type CookieNames,
} from "./cookies.js";
import { requestMeta } from "./request.js";
import { asAssertion } from "./routes/passkeys.js";
import {
  REAUTHENTICATE_ERRORS,
  reauthenticateRequest,
  toReauthenticated,
} from "./reauthenticate.js";

/** web/dist, both from src/http (tsx, tests) and from dist/http (the built server). */
export const WEB_DIST = fileURLToPath(new URL("../../web/dist/", import.meta.url));

const CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join("; ");

/** Paths that belong to the API or to operators: never answered with the portal's page. */
const NOT_PORTAL = /^\/(v1(\/|$)|\.well-known\/|openapi\.json|metrics|healthz|readyz|assets\/)/;

/** HSTS over https: a year, this host only (subdomains are the operator's to decide). */
const HSTS = "max-age=31536000";

function securityHeaders(reply: FastifyReply, secure: boolean): void {
  if (secure) reply.header("strict-transport-security", HSTS);
  reply.header("content-security-policy", CSP);
  reply.header("x-frame-options", "DENY");
  reply.header("x-content-type-options", "nosniff");
  reply.header("referrer-policy", "no-referrer");
  reply.header("cross-origin-opener-policy", "same-origin");
}

/** Whether a GET is a browser navigation to one of the portal's own pages. */
function isPortalNavigation(request: FastifyRequest): boolean {
  const path = request.url.split("?")[0]!;
  if (NOT_PORTAL.test(path)) return false;
  if (/\.[a-z0-9]+$/i.test(path)) return false; // a missing file, not a page
  const accept = request.headers.accept;
  return typeof accept === "string" && accept.includes("text/html");
}

/** The web portal: its built files, its security headers, and its cookie-based session. */
export async function portalRoutes(base: FastifyInstance, services: Services): Promise<void> {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { config } = services.deps;
  await app.register(fastifyCookie);
  app.addHook("onSend", async (request, reply) =>
    securityHeaders(reply, isSecureRequest(request, config.secureCookies)),
  );

  const built = existsSync(`${WEB_DIST}index.html`);
  if (built) {
    await app.register(fastifyStatic, {
      root: `${WEB_DIST}assets`,
      prefix: "/assets/",
      maxAge: "365d",
      immutable: true,
      index: false,
    });
  }
  const sendPage = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!isPortalNavigation(request)) return reply.callNotFound();
    if (!built)
      throw new LatchkeyError("not_found", "the portal is not built; run `npm run build`");
    reply.header("cache-control", "no-cache");
    return reply.sendFile("index.html", WEB_DIST, { cacheControl: false });
  };
  app.get("/", { schema: { hide: true } }, sendPage);
  app.get("/*", { schema: { hide: true } }, sendPage);
  app.get("/favicon.svg", { schema: { hide: true } }, async (_request, reply) => {
    if (!built) return reply.callNotFound();
    return reply.sendFile("favicon.svg", WEB_DIST, { maxAge: 86_400_000 });
  });

  const secure = (request: FastifyRequest) => isSecureRequest(request, config.secureCookies);
  const names = (request: FastifyRequest) => cookieNames(request, config.secureCookies);

  /** Sets the session cookies; a sign-in gets a new CSRF secret, a refresh keeps the current one. */
  const startSession = (
    request: FastifyRequest,
    reply: FastifyReply,
    tokens: SessionTokens,
    kind: "sign-in" | "refresh",
  ) => {
    const common = { sameSite: "strict", secure: secure(request) } as const;
    const refreshAge = Math.floor(Math.min(config.sessionIdleMs, config.sessionMaxAgeMs) / 1000);
    const current = kind === "refresh" ? readCookies(request)[names(request).csrf] : undefined;
    const csrf = current ?? randomBytes(24).toString("base64url");
    reply.setCookie(names(request).session, tokens.accessToken, {
      ...common,
      httpOnly: true,
      path: "/",
      maxAge: tokens.accessTtlSeconds,
    });
    reply.setCookie(names(request).refresh, tokens.refreshToken, {
      ...common,
      httpOnly: true,
      path: "/v1/portal",
      maxAge: refreshAge,
    });
    reply.setCookie(names(request).csrf, csrf, {
      ...common,
      httpOnly: false,
      path: "/",
      maxAge: refreshAge,
    });
    reply.header("cache-control", "no-store");
    return toPortalSession(tokens);
  };

  const endSession = (request: FastifyRequest, reply: FastifyReply) => {
    const common = { sameSite: "strict", secure: secure(request) } as const;
    reply.clearCookie(names(request).session, { ...common, httpOnly: true, path: "/" });
    reply.clearCookie(names(request).refresh, { ...common, httpOnly: true, path: "/v1/portal" });
    reply.clearCookie(names(request).csrf, { ...common, path: "/" });
  };

  const session = { 200: PortalSession, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody };

  app.get(
    "/v1/portal/meta",
    { schema: { tags: ["portal"], response: { 200: PortalMeta } } },
    async () => ({
      key_prefix: config.keyBrand,
      require_verified_email: config.requireVerifiedEmail,
    }),
  );

  app.post(
    "/v1/portal/signup",
    {
      schema: {
        tags: ["portal"],
        body: SignupBody,
        response: { 201: SignupResponse, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const user = await services.accounts.signup(request.body, requestMeta(request));
      return reply.status(201).send({ user: toPublicUser(user) });
    },
  );

  app.post(
    "/v1/portal/login",
    { schema: { tags: ["portal"], body: LoginBody, response: session } },
    async (request, reply) => {
      const { email, password, code, backup_code, wait_ticket } = request.body;
      const tokens = await services.accounts.login(
        { email, password, code, backupCode: backup_code, waitTicket: wait_ticket },
        requestMeta(request),
      );
      return startSession(request, reply, tokens, "sign-in");
    },
  );

  // The second step is the API's own (`POST /v1/auth/login/mfa`): same service call, same rules.
  app.post(
    "/v1/portal/login/mfa",
    { schema: { tags: ["portal"], body: MfaLoginBody, response: session } },
    async (request, reply) => {
      const { mfa_token, code, backup_code } = request.body;
      const tokens = await services.twofa.completeLogin(
        mfa_token,
        { code, backupCode: backup_code },
        requestMeta(request),
      );
      return startSession(request, reply, tokens, "sign-in");
    },
  );

  // A passkey sign-in (SPEC §9), passwordless or as the second step: the API's own service call
  // (`POST /v1/auth/passkeys/login`); the options come from `POST /v1/auth/passkeys/login/options`.
  app.post(
    "/v1/portal/passkeys/login",
    { schema: { tags: ["portal"], body: PasskeyLoginBody, response: session } },
    async (request, reply) => {
      const tokens = await services.passkeys.login(
        asAssertion(request.body.credential),
        request.body.mfa_token,
        requestMeta(request),
      );
      return startSession(request, reply, tokens, "sign-in");
    },
  );

  app.post(
    "/v1/portal/refresh",
    { schema: { tags: ["portal"], response: session } },
    async (request, reply) => {
      const token = readCookies(request)[names(request).refresh];
      if (!token) throw new LatchkeyError("unauthenticated", "no portal session to refresh");
      checkCsrf(request, names(request));
      try {
        const tokens = await services.sessions.refresh(token, request.ip);
        return startSession(request, reply, tokens, "refresh");
      } catch (error) {
        endSession(request, reply);
        throw error;
      }
    },
  );

  // Step-up for the portal (SPEC §9): the same checks as `POST /v1/auth/reauthenticate`; the
  // fresh access token replaces the session cookie (the refresh and CSRF cookies stay).
  app.post(
    "/v1/portal/reauthenticate",
    {
      config: { auth: "session" },
      schema: {
        tags: ["portal"],
        body: ReauthenticateBody,
        response: { 200: PortalReauthenticated, ...REAUTHENTICATE_ERRORS },
      },
    },
    async (request, reply) => {
      const fresh = await reauthenticateRequest(services, request, request.body);
      reply.setCookie(names(request).session, fresh.accessToken, {
        sameSite: "strict",
        secure: secure(request),
        httpOnly: true,
        path: "/",
        maxAge: fresh.accessTtlSeconds,
      });
      reply.header("cache-control", "no-store");
      const {
        access_token: _token,
        token_type: _type,
        ...answer
      } = toReauthenticated(services, fresh);
      return answer;
    },
  );

  app.post(
    "/v1/portal/logout",
    { schema: { tags: ["portal"], response: { 204: NoContent, 403: ErrorBody } } },
    async (request, reply) => {
      const cookies = readCookies(request);
      if (cookies[names(request).session] || cookies[names(request).refresh]) {
        checkCsrf(request, names(request));
        const claims = await sessionOf(services, cookies, names(request), request.ip);
        if (claims) {
          await services.sessions.end(claims.sid, "logout");
          await services.audit.record({
            event: "logout",
            userId: claims.sub,
            actor: actorOf({ sessionId: claims.sid }),
            ip: request.ip,
          });
        }
      }
      endSession(request, reply);
      return reply.status(204).send(null);
    },
  );
}

/** The session behind the portal's cookies: from the access token, else via the refresh token. */
async function sessionOf(
  services: Services,
  cookies: Record<string, string | undefined>,
  names: CookieNames,
  ip: string,
): Promise<{ sid: string; sub: string } | null> {
  const { tokens } = services.deps;
  const access = cookies[names.session];
  if (access) {
    const check = await tokens.verify(access);
    if (check.ok) return check.claims;
  }
  const refresh = cookies[names.refresh];
  if (!refresh) return null;
  try {
    const fresh = await services.sessions.refresh(refresh, ip);
    const check = await tokens.verify(fresh.accessToken);
    return check.ok ? check.claims : null;
  } catch {
    return null; // already ended or spent: nothing left to end
  }
}
