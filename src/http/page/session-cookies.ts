/**
 * The browser's side of a page session (SPEC §9): two cookies, and the CSRF rule every
 * cookie-authenticated request meets.
 *
 * - The session cookie holds the session id (HttpOnly, SameSite=Lax, Path=/, Max-Age of the
 *   session; `__Host-` prefixed and Secure when served over TLS).
 * - The CSRF cookie holds a random value the page also carries in its HTML (HttpOnly too: the page
 *   reads its copy from the HTML, never from the cookie). A request honours the session cookie
 *   only when its `X-CSRF-Token` header equals that cookie (double submit: a foreign page can
 *   make the browser send the cookie, but cannot read the value to put in the header), and when
 *   it is same-origin: its `Origin` is this server's, or, where a browser sends no `Origin`,
 *   `Sec-Fetch-Site: same-origin`. Sign-in needs both as well, so no site can sign a visitor in
 *   to an account of its choosing.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../../config/config.js';

const CSRF_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface CookieNames {
  readonly session: string;
  readonly csrf: string;
  /** Served over TLS: the cookies are Secure and `__Host-` prefixed. */
  readonly secure: boolean;
}

/** Over TLS when the request came over TLS (per `trustProxy`) or `publicUrl` is https. */
export function cookieNames(request: FastifyRequest, config: Config): CookieNames {
  const secure = request.protocol === 'https' || config.publicUrl?.startsWith('https:') === true;
  return secure ? { session: '__Host-tokenbox_session', csrf: '__Host-tokenbox_csrf', secure } : { session: 'tokenbox_session', csrf: 'tokenbox_csrf', secure };
}

function cookies(request: FastifyRequest): Record<string, string | undefined> {
  const header = request.headers.cookie;
  if (header === undefined) return {};
  try {
    return parseCookie(header);
  } catch {
    return {};
  }
}

/** The session id the request's cookie holds, if any (not yet checked against the store). */
export function sessionCookie(request: FastifyRequest, config: Config): string | undefined {
  const value = cookies(request)[cookieNames(request, config).session];
  return value === undefined || value === '' ? undefined : value;
}

/** The request's CSRF cookie when well formed, else a new value (to set with `csrfCookie`). */
export function csrfTokenFor(request: FastifyRequest, config: Config): { readonly value: string; readonly isNew: boolean } {
  const value = cookies(request)[cookieNames(request, config).csrf];
  return value !== undefined && CSRF_PATTERN.test(value) ? { value, isNew: false } : { value: randomBytes(32).toString('base64url'), isNew: true };
}

/** This server's origin: `publicUrl`'s when configured, else the request's own scheme and host. */
function ownOrigin(request: FastifyRequest, config: Config): string {
  return config.publicUrl === undefined ? `${request.protocol}://${request.host}` : new URL(config.publicUrl).origin;
}

/** Same-origin, with an `X-CSRF-Token` equal to the CSRF cookie: the rule every cookie request meets. */
export function passesCsrf(request: FastifyRequest, config: Config): boolean {
  const { origin } = request.headers;
  const sameOrigin = origin === undefined ? request.headers['sec-fetch-site'] === 'same-origin' : origin === ownOrigin(request, config);
  if (!sameOrigin) return false;
  const header = request.headers['x-csrf-token'];
  const cookie = cookies(request)[cookieNames(request, config).csrf];
  if (typeof header !== 'string' || cookie === undefined || !CSRF_PATTERN.test(cookie)) return false;
  const a = Buffer.from(header);
  const b = Buffer.from(cookie);
  return a.length === b.length && timingSafeEqual(a, b);
}

function setCookie(names: CookieNames, name: string, value: string, maxAgeS?: number): string {
  return stringifySetCookie({
    name,
    value,
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure: names.secure,
    ...(maxAgeS === undefined ? {} : { maxAge: maxAgeS }),
  });
}

export function sessionCookieHeader(names: CookieNames, sessionId: string, maxAgeS: number): string {
  return setCookie(names, names.session, sessionId, maxAgeS);
}

export function clearedSessionCookieHeader(names: CookieNames): string {
  return setCookie(names, names.session, '', 0);
}

/** A browser-session cookie (no Max-Age): the page renders a fresh one when it is gone. */
export function csrfCookieHeader(names: CookieNames, value: string): string {
  return setCookie(names, names.csrf, value);
}
