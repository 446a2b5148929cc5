import { timingSafeEqual } from "node:crypto";
import { fastifyCookie } from "@fastify/cookie";
import type { FastifyRequest } from "fastify";
import { LatchkeyError } from "../core/errors.js";

/**
 * The portal's browser session lives in cookies, so injected script cannot read its tokens:
 * `lk_session` (httpOnly, the access token), `lk_refresh` (httpOnly, only sent to
 * /v1/portal), and `lk_csrf` (readable) for double-submit CSRF protection.
 */
export const COOKIES = { session: "lk_session", refresh: "lk_refresh", csrf: "lk_csrf" } as const;
/**
 * The same cookies when they are Secure: `__Host-` (Secure, Path=/, no Domain) so that no
 * sibling host and no plain-http page can set or shadow them; the refresh cookie is bound to
 * /v1/portal, so it takes `__Secure-`. Over https only these names are read.
 */
export const SECURE_COOKIES = {
  session: "__Host-lk_session",
  refresh: "__Secure-lk_refresh",
  csrf: "__Host-lk_csrf",
} as const;
export type CookieNames = typeof COOKIES | typeof SECURE_COOKIES;
export const CSRF_HEADER = "x-csrf-token";

/** LATCHKEY_SECURE_COOKIES: `true`, `false`, or `auto` (Secure when the request is https). */
export type SecureCookies = "true" | "false" | "auto";

export function isSecureRequest(request: FastifyRequest, mode: SecureCookies): boolean {
  return mode === "true" || (mode === "auto" && request.protocol === "https");
}

/** The cookie names this request's session uses. */
export function cookieNames(request: FastifyRequest, mode: SecureCookies): CookieNames {
  return isSecureRequest(request, mode) ? SECURE_COOKIES : COOKIES;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Cookies of a request, whether or not @fastify/cookie has parsed them in this context. */
export function readCookies(request: FastifyRequest): Record<string, string | undefined> {
  const parsed = (request as { cookies?: Record<string, string | undefined> }).cookies;
  if (parsed) return parsed;
  const header = request.headers.cookie;
  return typeof header === "string" ? fastifyCookie.parse(header) : {};
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Double-submit check: the `x-csrf-token` header must equal the `lk_csrf` cookie. */
export function checkCsrf(request: FastifyRequest, names: CookieNames): void {
  const cookie = readCookies(request)[names.csrf];
  const header = request.headers[CSRF_HEADER];
  if (!cookie || typeof header !== "string" || !sameSecret(cookie, header)) {
    throw new LatchkeyError("forbidden", "missing or wrong x-csrf-token header");
  }
}

/**
 * The access token carried by the portal's session cookie, or null. An unsafe method
 * (anything but GET/HEAD/OPTIONS) must also pass the CSRF check, else 403 `forbidden`.
 */
export function sessionCookieToken(request: FastifyRequest, mode: SecureCookies): string | null {
  const names = cookieNames(request, mode);
  const token = readCookies(request)[names.session];
  if (!token) return null;
  if (!SAFE_METHODS.has(request.method)) checkCsrf(request, names);
  return token;
}
