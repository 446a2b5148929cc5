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
export const CSRF_HEADER = "x-csrf-token";

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
export function checkCsrf(request: FastifyRequest): void {
  const cookie = readCookies(request)[COOKIES.csrf];
  const header = request.headers[CSRF_HEADER];
  if (!cookie || typeof header !== "string" || !sameSecret(cookie, header)) {
    throw new LatchkeyError("forbidden", "missing or wrong x-csrf-token header");
  }
}

/**
 * The access token carried by the portal's session cookie, or null. An unsafe method
 * (anything but GET/HEAD/OPTIONS) must also pass the CSRF check, else 403 `forbidden`.
 */
export function sessionCookieToken(request: FastifyRequest): string | null {
  const token = readCookies(request)[COOKIES.session];
  if (!token) return null;
  if (!SAFE_METHODS.has(request.method)) checkCsrf(request);
  return token;
}
