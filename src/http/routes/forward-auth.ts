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
 */
import { METHODS } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../domain/errors.js';
import { RouteTable, type CompiledRoute } from '../../domain/route-rules.js';
import { isScopeId } from '../../domain/scopes.js';
import type { Refusal } from '../../verification/verifier.js';
import type { HttpDeps } from '../context.js';
import { toHttpError } from '../error-mapper.js';
import { CHECK_PREFIX, originalRequest, type OriginalRequest } from '../original-request.js';
import { authorizeResource, setRefusalRateHeaders, type ResourceJudge, type ResourceVerdict } from '../request-authorizer.js';
import type { QueryValues } from '../query.js';
import type { RequestCounters } from '../metrics.js';

export function forwardAuthRoutes(app: FastifyInstance, deps: HttpDeps, counters?: RequestCounters): void {
  const routes = new RouteTable(deps.config.routes);
  const judge: ResourceJudge = { verifier: deps.verifier, limiter: deps.limiter, clock: deps.clock, tokenRateLimit: deps.config.tokenRateLimit };
  const handler = (request: FastifyRequest, reply: FastifyReply): FastifyReply | Promise<FastifyReply> => {
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
        return refuse(reply, { ok: false, code: 'invalid_token', status: error.status, message: error.message });
      }
      throw error;
    }
    const verdict = authorizeResource(judge, { headers: request.headers, query: original.query, scope, route });
    // Synchronous for a cached token: no promise on the hot path.
    return verdict instanceof Promise ? verdict.then((v) => counted(reply, v)) : counted(reply, verdict);
  };
  const counted = (reply: FastifyReply, verdict: ResourceVerdict): FastifyReply => {
    if (counters !== undefined) counters.verdict('forward-auth', verdict.ok ? 'valid' : verdict.code, verdict.ok ? 200 : verdict.status);
    return answer(reply, verdict);
  };
  // Every method Node parses (SPEC §5); src/http/server.ts teaches Fastify the ones it lacks.
  // Successful checks write no log line at the default level: the hot path does no I/O. Nor does
  // it build a logger per request: Fastify's default makes a child logger for every request, and
  // a child at another level rebuilds all its log methods (measured: ~15 % of a check's
  // throughput). One warn-level child, made once, serves every check.
  let checkLogger: FastifyBaseLogger | null = null;
  const childLoggerFactory = (logger: FastifyBaseLogger): FastifyBaseLogger => (checkLogger ??= logger.child({ surface: 'forward-auth' }, { level: 'warn' }));
  const options = { method: METHODS, childLoggerFactory, handler };
  app.route({ ...options, url: CHECK_PREFIX });
  app.route({ ...options, url: `${CHECK_PREFIX}/*` });
  // Forward auth never reads the body, so nothing about it (an empty or unparseable
  // Content-Type, a size) may keep a request from its verdict: the framework's body errors are
  // answered by the handler itself. Anything else is refused with the proxy headers too.
  app.setErrorHandler((error, request, reply) => {
    if (isBodyError(error)) return handler(request, reply);
    const mapped = toHttpError(error);
    if (mapped.unexpected) request.log.error({ err: error }, 'forward auth failed');
    return refuse(reply, { ok: false, code: 'invalid_token', status: mapped.status, message: mapped.message });
  });
}

function isBodyError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('FST_ERR_CTP_');
}

/** The auth URL's `scope` parameter, in the header styles only (Envoy's query is the client's). */
function proxyScope(request: FastifyRequest, original: OriginalRequest): string | null {
  if (!original.authQueryIsProxys) return null;
  const values = (request.query as QueryValues).get('scope');
  if (values === undefined) return null;
  if (values.length !== 1 || !isScopeId(values[0])) throw new AppError('scope_param_invalid');
  return values[0];
}

function answer(reply: FastifyReply, verdict: ResourceVerdict): FastifyReply {
  if (!verdict.ok) return refuse(reply, verdict);
  return reply
    .code(200)
    .headers({
      'cache-control': 'no-store',
      'x-tokenbox-user': verdict.user,
      'x-tokenbox-token-id': verdict.tokenId,
      'x-tokenbox-usage': verdict.usage,
    })
    .send();
}

function refuse(reply: FastifyReply, verdict: Refusal): FastifyReply {
  reply
    .code(verdict.status)
    .header('Cache-Control', 'no-store')
    .header('X-Tokenbox-Status', String(verdict.status))
    .header('X-Tokenbox-Message', verdict.message);
  setRefusalRateHeaders(reply, verdict);
  return reply.type('application/json; charset=utf-8').send(bodyOf(verdict.message));
}

/** Refusal bodies, serialised once per message (a flood of refusals repeats a handful of them). */
const BODIES = new Map<string, string>();

function bodyOf(message: string): string {
  let body = BODIES.get(message);
  if (body === undefined) {
    body = JSON.stringify({ message });
    if (BODIES.size < 1000) BODIES.set(message, body);
  }
  return body;
}
