/**
 * Authentication and the SPEC §4.3 order up to the body: 401 → 429 → 404 `No such user` →
 * 404 `Not found`. Runs as an `onRequest` hook, before the body is read, so an unauthenticated
 * caller always sees 401 first, whatever it sent.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isAdminKeyAttempt } from '../domain/admin-key-format.js';
import { AppError } from '../domain/errors.js';
import { assertMayWritePermanent } from '../services/access.js';
import type { RateDecision } from '../verification/rate-limiter.js';
import type { HttpDeps } from './context.js';
import type { QueryValues } from './query.js';
import { presentedToken, type PresentedToken } from './request-authorizer.js';
import { passesCsrf, sessionCookie } from './page/session-cookies.js';
import type { Grant } from '../services/access.js';
import { adminCaller, type Caller } from '../services/audit-service.js';

/** The token the API request presents (Bearer header, else its one `access_token`). */
export function requestToken(request: FastifyRequest): PresentedToken {
  return presentedToken(request.headers.authorization, request.query as QueryValues);
}

const NO_QUERY: QueryValues = new Map();

/**
 * The admin key a request presents: only ever the `Authorization: Bearer` value (SPEC §10), so a
 * `tba_` string in `?access_token=` is never taken for one (it is refused as a forged token).
 */
function bearerAdminKey(request: FastifyRequest): string | undefined {
  const presented = presentedToken(request.headers.authorization, NO_QUERY);
  return presented.kind === 'token' && isAdminKeyAttempt(presented.raw) ? presented.raw : undefined;
}

/** An admin key's own bucket (SPEC §3's `accountRateLimit`), on every API it may call. */
function adminBucket(keyId: string): string {
  return tokenKey(`admin:${keyId}`);
}

/**
 * Accepts the request's admin key (401 → 429, SPEC §4.3's order) and returns its id. A key that is
 * missing, malformed, unknown or deleted is 401, counted against the client's address like a
 * failed token. No cache: one indexed store read, so a delete holds on every process at once.
 */
async function acceptAdminKey(deps: HttpDeps, request: FastifyRequest, reply: FastifyReply, key: string | undefined): Promise<string> {
  const identity = key === undefined ? null : await deps.adminKeys.resolve(key);
  if (identity === null) {
    await limit(deps, reply, ipKey(request));
    throw new AppError('unauthorized');
  }
  await limit(deps, reply, adminBucket(identity.keyId));
  return identity.keyId;
}

/**
 * The `onRequest` hook of the operators' API (`/admin/v1/*`): an admin key as a Bearer header, and
 * nothing else. An account token, even one holding every scope, and a session cookie are 401.
 */
export function requireAdmin(deps: HttpDeps) {
  return async function authorizeAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    request.adminKeyId = await acceptAdminKey(deps, request, reply, bearerAdminKey(request));
  };
}

/** Who the audit log records for an operators' API request: its admin key, from the client's address. */
export function adminCallerOf(request: FastifyRequest): Caller {
  if (request.adminKeyId === null) throw new Error('adminCallerOf needs a route behind requireAdmin');
  return adminCaller(request.adminKeyId, request.ip);
}

function setRateHeaders(reply: FastifyReply, decision: RateDecision, nowS: number): void {
  reply.header('X-Rate-Limit-Interval', decision.interval);
  reply.header('X-Rate-Limit-Limit', decision.limit);
  reply.header('X-Rate-Limit-Reset', decision.reset);
  if (!decision.allowed) reply.header('Retry-After', Math.max(1, decision.reset - nowS));
}

/**
 * Counts the request in its bucket: the verified token, or the client IP when unverified.
 * Synchronous with the in-memory limiter; a promise with a shared one.
 * @throws AppError `rate_limited` when over the limit (headers are set either way).
 */
export function limit(deps: HttpDeps, reply: FastifyReply, key: string): void | Promise<void> {
  const decision = deps.limiter.hit(key, deps.config.accountRateLimit);
  const apply = (d: RateDecision): void => {
    setRateHeaders(reply, d, Math.floor(deps.clock() / 1000));
    if (!d.allowed) throw new AppError('rate_limited');
  };
  return decision instanceof Promise ? decision.then(apply) : apply(decision);
}

export function ipKey(request: FastifyRequest): string {
  return `ip:${request.ip}`;
}

/**
 * A verified token's bucket on the Tokens and Scopes APIs (SPEC §3): each pk, sk and tk has its
 * own, so no token (a tk handed to a browser, an sk without `tokens:*`) can make another token of
 * the account get 429. Apart from the verifier's `token:` buckets (the `tokenRateLimit` ceiling).
 */
export function tokenKey(subject: string): string {
  return `api:${subject}`;
}

/**
 * An `onRequest` hook for a route that needs `scope` on the `{username}` in its path.
 * `permanentWrite`: the route changes a pk/sk, which a tk never may (404, before the body).
 */
export function requireScope(deps: HttpDeps, scope: string, options: { readonly permanentWrite?: boolean } = {}) {
  return async function authorize(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    // An admin key acts on any account with every catalog scope (SPEC §10).
    const adminKey = bearerAdminKey(request);
    if (adminKey !== undefined) {
      const keyId = await acceptAdminKey(deps, request, reply, adminKey);
      const { username } = request.params as { username: string };
      request.grant = withIp(await deps.access.authorizeAdmin(keyId, username), request);
      return;
    }
    const presented = requestToken(request);
    // A token in the request wins over the page's session cookie (SPEC §9).
    const sessionId = presented.kind === 'none' ? sessionCookie(request, deps.config) : undefined;
    if (sessionId !== undefined) {
      request.grant = withIp(await authorizeSession(deps, request, reply, sessionId), request);
      return;
    }
    const outcome = presented.kind === 'token' ? await deps.authenticator.authenticate(presented.raw) : null;
    if (!outcome?.ok) {
      await limit(deps, reply, ipKey(request));
      throw new AppError('unauthorized');
    }
    const { principal } = outcome;
    await limit(deps, reply, tokenKey(principal.subject));
    const { username } = request.params as { username: string };
    const grant = await deps.access.authorize(principal, username, scope);
    if (options.permanentWrite === true) assertMayWritePermanent(grant);
    request.grant = withIp(grant, request);
  };
}

/** The grant with the client's address (`request.ip`, proxy-aware per `trustProxy`), for the audit log. */
function withIp(grant: Grant, request: FastifyRequest): Grant {
  return { ...grant, ip: request.ip };
}

/**
 * A page session on the APIs (SPEC §9): a cookie naming no live session is 401 (before CSRF, and
 * counted against the client's address like a failed token); then the CSRF rule (403); then the
 * session's own bucket, and the path's account as for a token. It holds every catalog scope.
 */
async function authorizeSession(deps: HttpDeps, request: FastifyRequest, reply: FastifyReply, sessionId: string): Promise<Grant> {
  const session = await deps.sessions.resolve(sessionId);
  if (session === null) {
    await limit(deps, reply, ipKey(request));
    throw new AppError('unauthorized');
  }
  if (!passesCsrf(request, deps.config)) throw new AppError('forbidden');
  await limit(deps, reply, tokenKey(`session:${session.idHash}`));
  const { username } = request.params as { username: string };
  return deps.access.authorizeSession(session.username, username);
}
