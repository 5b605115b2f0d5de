/**
 * The Access tokens page (SPEC §9), its own encapsulated scope under `/account`: the HTML shell
 * of the browser app (`dist/web`, built by Vite from `src/web`), its assets, and sign-in and
 * sign-out. Everything else the page does goes through the public Tokens, Scopes and Analytics
 * APIs with the session cookie, so no rule of theirs is written twice.
 *
 * Every answer here carries a strict Content-Security-Policy (no inline script or style),
 * `Referrer-Policy: same-origin`, and none of the API's CORS headers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, CATALOGUE, invalidField } from '../../domain/errors.js';
import { SESSION_TTL_MS } from '../../services/sessions-service.js';
import { acceptJsonOnly } from '../api-wire.js';
import type { HttpDeps } from '../context.js';
import { clearedSessionCookieHeader, cookieNames, csrfCookieHeader, csrfTokenFor, passesCsrf, sessionCookie, sessionCookieHeader } from './session-cookies.js';

/** `dist/web`, from `src/http/page` (tsx) and `dist/http/page` (built) alike. */
const WEB_DIR = fileURLToPath(new URL('../../../dist/web/', import.meta.url));
const PLACEHOLDER = 'tokenbox-page-data';

export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SIGN_IN = '/account/sign-in';
const LIST = '/account/access-tokens';

/** The page's URLs that need a session (the sign-in page is the one that does not). */
const SIGNED_IN_PAGES = ['/', '/access-tokens', '/access-tokens/create', '/access-tokens/:id'];

export function pageSurface(page: FastifyInstance, deps: HttpDeps): void {
  page.addHook('onRequest', (_request, reply, done) => {
    reply
      .header('Content-Security-Policy', PAGE_CSP)
      .header('Referrer-Policy', 'same-origin')
      .header('X-Content-Type-Options', 'nosniff')
      .header('X-Frame-Options', 'DENY');
    done();
  });
  // Sign-in and sign-out take JSON, as the APIs do (but none of the APIs' CORS).
  acceptJsonOnly(page);
  page.setNotFoundHandler((_request, reply) => reply.code(404).header('Cache-Control', 'no-store').send({ message: CATALOGUE.not_found.message }));

  const shell = new Shell();
  if (existsSync(`${WEB_DIR}assets`)) {
    // Hashed file names: a new build is a new URL, so a year's cache is safe.
    void page.register(fastifyStatic, { root: `${WEB_DIR}assets`, prefix: '/assets/', immutable: true, maxAge: '365d', index: false, decorateReply: false });
  }

  page.get('/sign-in', async (request, reply) => {
    if ((await liveSession(deps, request)) !== null) return reply.code(303).header('Location', LIST).send();
    return shell.send(deps, request, reply, null);
  });
  for (const url of SIGNED_IN_PAGES) {
    page.get(url, async (request, reply) => {
      const session = await liveSession(deps, request);
      if (session === null) return reply.code(303).header('Location', SIGN_IN).send();
      if (url === '/') return reply.code(303).header('Location', LIST).send();
      return shell.send(deps, request, reply, session.username);
    });
  }

  page.post('/sign-in', async (request, reply) => {
    if (!passesCsrf(request, deps.config)) throw new AppError('forbidden');
    const { username, password } = signInBody(request.body);
    const outcome = await deps.sessions.signIn(username, password, request.ip);
    reply.header('Cache-Control', 'no-store');
    if (!outcome.ok && outcome.reason === 'throttled') {
      return reply.code(429).header('Retry-After', outcome.retryAfterS).send({ message: CATALOGUE.rate_limited.message });
    }
    if (!outcome.ok) throw new AppError('sign_in_failed');
    // A session the browser held before is ended: one browser, one session.
    const previous = sessionCookie(request, deps.config);
    if (previous !== undefined) await deps.sessions.signOut(previous);
    const names = cookieNames(request, deps.config);
    reply.header('Set-Cookie', sessionCookieHeader(names, outcome.sessionId, Math.floor(SESSION_TTL_MS / 1000)));
    return { username: outcome.session.username };
  });

  page.post('/sign-out', async (request, reply) => {
    const sessionId = sessionCookie(request, deps.config);
    const session = sessionId === undefined ? null : await deps.sessions.resolve(sessionId);
    if (sessionId === undefined || session === null) throw new AppError('unauthorized');
    if (!passesCsrf(request, deps.config)) throw new AppError('forbidden');
    await deps.sessions.signOut(sessionId, { username: session.username, ip: request.ip });
    return reply
      .code(204)
      .header('Set-Cookie', clearedSessionCookieHeader(cookieNames(request, deps.config)))
      .send();
  });
}

/** The session the request's cookie names, if live. Page loads are navigations: no CSRF header. */
async function liveSession(deps: HttpDeps, request: FastifyRequest) {
  const sessionId = sessionCookie(request, deps.config);
  return sessionId === undefined ? null : deps.sessions.resolve(sessionId);
}

/** `{username, password}`, both strings; the password's length is judged as a wrong one would be. */
function signInBody(body: unknown): { username: string; password: string } {
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (typeof fields.username !== 'string') throw invalidField('username');
  if (typeof fields.password !== 'string') throw invalidField('password');
  return { username: fields.username, password: fields.password };
}

/**
 * The built `index.html`, with the page's data put in its `tokenbox-page` meta tag: the CSRF value
 * and the signed-in username (null on the sign-in page). Read once; a missing build is a 503
 * that says what to run.
 */
class Shell {
  private html: string | null = null;

  send(deps: HttpDeps, request: FastifyRequest, reply: FastifyReply, username: string | null): FastifyReply {
    const html = this.load();
    if (html === null) {
      request.log.error(`the Access tokens page is not built: ${WEB_DIR}index.html is missing (npm run build makes it)`);
      return reply.code(503).header('Cache-Control', 'no-store').send({ message: CATALOGUE.unavailable.message });
    }
    const csrf = csrfTokenFor(request, deps.config);
    if (csrf.isNew) reply.header('Set-Cookie', csrfCookieHeader(cookieNames(request, deps.config), csrf.value));
    const data = escapeAttribute(JSON.stringify({ csrfToken: csrf.value, username }));
    return reply.header('Cache-Control', 'no-store').type('text/html; charset=utf-8').send(html.replace(PLACEHOLDER, data));
  }

  private load(): string | null {
    if (this.html === null && existsSync(`${WEB_DIR}index.html`)) this.html = readFileSync(`${WEB_DIR}index.html`, 'utf8');
    return this.html;
  }
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;');
}
