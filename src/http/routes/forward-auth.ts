/**
 * Forward auth (SPEC §5, way in 2): `/auth/v1/check` and `/auth/v1/check/*`, any method, for
 * nginx `auth_request`, Traefik `forwardAuth` and Envoy `ext_authz`. 200 with an empty body and
 * the identity headers, or the verdict's status and JSON body plus `X-Tokenbox-Status` and
 * `X-Tokenbox-Message` (nginx passes only 2xx/401/403 and drops bodies; its example replays them).
 *
 * The required scope comes from the auth URL's own `scope` parameter (the proxy's, header styles
 * only) or from the route rules; with neither, the answer is 403 (fail closed). Nothing a client
 * sends can choose the scope or the identity: `X-Tokenbox-*` request headers are never read,
 * except `X-Tokenbox-App-Id`, which is the app restriction's input.
 *
 * The check itself ({@link forwardAuthCheck}) is one function from a request to an answer. Two
 * ways reach it: the Fastify routes below, and the fast lane (src/http/check-lane.ts), which
 * answers most checks straight from Node's request before Fastify builds anything.
 */
import { METHODS, type IncomingHttpHeaders } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../domain/errors.js';
import { RouteTable, type CompiledRoute } from '../../domain/route-rules.js';
import { isScopeId } from '../../domain/scopes.js';
import type { Refusal } from '../../verification/verifier.js';
import type { HttpDeps } from '../context.js';
import { toHttpError } from '../error-mapper.js';
import { CHECK_PREFIX, originalRequest, type OriginalRequest } from '../original-request.js';
import { authorizeResource, refusalRateHeaders, type ResourceJudge, type ResourceVerdict } from '../request-authorizer.js';
import type { QueryValues } from '../query.js';
import type { RequestCounters } from '../metrics.js';

/** A check request, as Fastify's request and Node's both describe it. */
export interface CheckRequest {
  readonly method: string;
  /** The auth URL as received: `/auth/v1/check…`. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The auth URL's own query (after its `?`), parsed. */
  readonly query: QueryValues;
}

/**
 * A check's answer: the status, its headers (lower-case names; a body comes with its
 * `content-length`), and the body (`''` on a 200).
 */
export interface CheckAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * The forward-auth check: synchronous for a cached token (no promise on the hot path). Throws, or
 * rejects, only on an unexpected failure (a store that cannot be read): {@link failedCheck}
 * answers those.
 */
export type ForwardAuthCheck = (request: CheckRequest) => CheckAnswer | Promise<CheckAnswer>;

export function forwardAuthCheck(deps: HttpDeps, counters?: RequestCounters): ForwardAuthCheck {
  const routes = new RouteTable(deps.config.routes);
  const judge: ResourceJudge = { verifier: deps.verifier, limiter: deps.limiter, clock: deps.clock, tokenRateLimit: deps.config.tokenRateLimit };
  const counted = (verdict: ResourceVerdict): CheckAnswer => {
    if (counters !== undefined) counters.verdict('forward-auth', verdict.ok ? 'valid' : verdict.code, verdict.ok ? 200 : verdict.status);
    return verdict.ok ? allowed(verdict.user, verdict.tokenId, verdict.usage) : refused(verdict);
  };
  return (request) => {
    let original: OriginalRequest;
    let scope: string | null;
    let route: CompiledRoute | null;
    try {
      original = originalRequest(request);
      const fromProxy = proxyScope(request, original);
      if (fromProxy === null) {
        route = routes.matchEvery(original.method, original.path, original.otherReadings);
        scope = route?.rule.scope ?? null;
      } else {
        // The proxy names the scope; a matching rule still brings its per-account limit (but
        // only looked for when some rule has one: the hot path matches nothing it need not).
        scope = fromProxy;
        route = routes.hasRateLimits ? routes.match(original.method, original.path) : null;
      }
    } catch (error) {
      if (error instanceof AppError) {
        counters?.verdict('forward-auth', error.code, error.status);
        return refused({ ok: false, code: 'invalid_token', status: error.status, message: error.message });
      }
      throw error;
    }
    const verdict = authorizeResource(judge, { headers: request.headers, query: original.query, scope, route });
    return verdict instanceof Promise ? verdict.then(counted) : counted(verdict);
  };
}

/** The answer to a check that failed unexpectedly (logged) or for a reason the catalogue names. */
export function failedCheck(error: unknown, log: FastifyBaseLogger): CheckAnswer {
  const mapped = toHttpError(error);
  if (mapped.unexpected) log.error({ err: error }, 'forward auth failed');
  return refused({ ok: false, code: 'invalid_token', status: mapped.status, message: mapped.message });
}

/**
 * The Fastify routes of forward auth: every check the fast lane leaves to Fastify (an Envoy path
 * with an escape, a check while the server closes), and every check made through `inject`.
 */
export function forwardAuthRoutes(app: FastifyInstance, check: ForwardAuthCheck, logger: CheckLogger): void {
  const handler = (request: FastifyRequest, reply: FastifyReply): FastifyReply | Promise<FastifyReply> => {
    const answer = check({ method: request.method, url: request.url, headers: request.headers, query: request.query as QueryValues });
    return answer instanceof Promise ? answer.then((a) => send(reply, a)) : send(reply, answer);
  };
  // Every method Node parses (SPEC §5); src/http/server.ts teaches Fastify the ones it lacks.
  const options = { method: METHODS, childLoggerFactory: logger.get, handler };
  app.route({ ...options, url: CHECK_PREFIX });
  app.route({ ...options, url: `${CHECK_PREFIX}/*` });
  // Forward auth never reads the body, so nothing about it (an empty or unparseable
  // Content-Type, a size) may keep a request from its verdict: the framework's body errors are
  // answered by the handler itself. Anything else is refused with the proxy headers too.
  app.setErrorHandler((error, request, reply) => (isBodyError(error) ? handler(request, reply) : send(reply, failedCheck(error, request.log))));
}

/**
 * Successful checks write no log line at the default level: the hot path does no I/O. Nor does
 * it build a logger per request: Fastify's default makes a child logger for every request, and
 * a child at another level rebuilds all its log methods (measured: ~15 % of a check's
 * throughput). One warn-level child, made once, serves every check, on both ways in.
 */
export class CheckLogger {
  private logger: FastifyBaseLogger | null = null;
  readonly get = (parent: FastifyBaseLogger): FastifyBaseLogger => (this.logger ??= parent.child({ surface: 'forward-auth' }, { level: 'warn' }));
}

function send(reply: FastifyReply, answer: CheckAnswer): FastifyReply {
  return reply
    .code(answer.status)
    .headers(answer.headers)
    .send(answer.body === '' ? undefined : answer.body);
}

function isBodyError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('FST_ERR_CTP_');
}

/** The auth URL's `scope` parameter, in the header styles only (Envoy's query is the client's). */
function proxyScope(request: CheckRequest, original: OriginalRequest): string | null {
  if (!original.authQueryIsProxys) return null;
  const values = request.query.get('scope');
  if (values === undefined) return null;
  if (values.length !== 1 || !isScopeId(values[0])) throw new AppError('scope_param_invalid');
  return values[0];
}

function allowed(user: string, tokenId: string, usage: string): CheckAnswer {
  return {
    status: 200,
    headers: { 'cache-control': 'no-store', 'x-tokenbox-user': user, 'x-tokenbox-token-id': tokenId, 'x-tokenbox-usage': usage },
    body: '',
  };
}

function refused(verdict: Refusal): CheckAnswer {
  const body = bodyOf(verdict.message);
  const headers: Record<string, string> = {
    'cache-control': 'no-store',
    'x-tokenbox-status': String(verdict.status),
    'x-tokenbox-message': verdict.message,
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.length,
  };
  if (verdict.retryAfter !== undefined) Object.assign(headers, refusalRateHeaders(verdict));
  return { status: verdict.status, headers, body: body.text };
}

/** Refusal bodies (and their byte lengths), serialised once per message: a flood of refusals repeats a handful of them. */
const BODIES = new Map<string, { readonly text: string; readonly length: string }>();

function bodyOf(message: string): { readonly text: string; readonly length: string } {
  let body = BODIES.get(message);
  if (body === undefined) {
    const text = JSON.stringify({ message });
    body = { text, length: String(Buffer.byteLength(text)) };
    if (BODIES.size < 1000) BODIES.set(message, body);
  }
  return body;
}
