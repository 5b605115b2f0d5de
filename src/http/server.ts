/**
 * The HTTP server: wire rules of SPEC §3 (JSON only, CORS, no-store, errors as `{message}`),
 * the routes, and logs that never hold a token.
 */
import { createServer, METHODS } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import pino from 'pino';
import { CATALOGUE } from '../domain/errors.js';
import type { Config } from '../config/config.js';
import { adminSurface } from './admin/admin-surface.js';
import { applyApiWireRules, EXPOSED_HEADERS, preflightRoute } from './api-wire.js';
import type { HttpDeps } from './context.js';
import { toHttpError } from './error-mapper.js';
import { buildOpenApi } from './openapi.js';
import { parseQuery } from './query.js';
import { redactText, redactUrl } from './redact.js';
import { CHECK_PREFIX } from './original-request.js';
import { analyticsRoute } from './routes/analytics.js';
import { gatewayRoutes, hasGateway } from './gateway.js';
import { isReservedPath } from '../domain/route-rules.js';
import { createTokenRoute } from './routes/create-token.js';
import { CheckLogger, forwardAuthCheck, forwardAuthRoutes } from './routes/forward-auth.js';
import { checkLane } from './check-lane.js';
import { deleteTokenRoute } from './routes/delete-token.js';
import { healthRoute } from './routes/health.js';
import { pageSurface } from './page/page-surface.js';
import type { RequestCounters } from './metrics.js';

// The metrics port's server is started by `serve` beside this one (the CLI's one way into http).
export { buildMetricsServer, createMetrics } from './metrics.js';
import { listScopesRoute } from './routes/list-scopes.js';
import { listTokensRoute } from './routes/list-tokens.js';
import { retrieveTokenRoute } from './routes/retrieve-token.js';
import { updateTokenRoute } from './routes/update-token.js';

/** Where the server's log lines go: one serialised JSON line per call. */
export interface LogDestination {
  write(line: string): unknown;
}

/**
 * stdout, written asynchronously (pino's sonic-boom): on Linux a write to a pipe is synchronous,
 * so a log line per request would be a blocking syscall per request. Lines logged while a write is
 * in flight go out together in the next one; nothing is held back when idle. `serve` calls
 * `flushSync` when it stops (and on exit), so no line is lost on a clean or crashing exit.
 */
export function stdoutDestination(): LogDestination & { flushSync(): void } {
  return pino.destination({ dest: 1, sync: false });
}

export interface ServerOptions {
  /** `false`: no logging at all (tests, benchmarks). Otherwise the production logger, {@link loggerOptions}. */
  readonly logger?: false;
  /** Where the production logger writes; stdout by default. Tests pass a stream they read. */
  readonly logDestination?: LogDestination;
  /** With `metricsPort`: the counters the routes increment for `/metrics` (src/http/metrics.ts). */
  readonly counters?: RequestCounters;
}

/**
 * The production logger (SPEC §7: logs never hold a token). The request is logged as its method,
 * redacted URL and id only: no headers (so no `Authorization`, `X-Original-URI` or
 * `X-Forwarded-Uri`), no bodies. Errors are logged as type, code, message and stack only (a
 * parser error's `rawPacket` holds the raw request line). And every serialised line passes
 * {@link redactText} on its way out, so a token that reaches a message or any other field by some
 * other route (a framework error quoting the URL, say) is still replaced.
 */
function loggerOptions(destination: LogDestination = stdoutDestination()): NonNullable<FastifyServerOptions['logger']> {
  return {
    level: 'info',
    stream: { write: (line: string) => destination.write(redactText(line)) },
    serializers: {
      req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: redactUrl(req.url), id: req.id }),
      err: serializeError,
    },
  };
}

function serializeError(error: Error): { type: string; message: string; stack: string; [key: string]: unknown } {
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  return { type: error.name, message: String(error.message), stack: String(error.stack ?? ''), code, statusCode };
}

/**
 * Forward auth answers every method Node's HTTP parser accepts (SPEC §5: `PROPFIND`, `MKCOL`…),
 * so Fastify is taught the ones it lacks. They are added bodyless: nothing reads their bodies.
 * `QUERY` is made bodyless too, because Fastify otherwise refuses a `QUERY` without a
 * Content-Type (RFC 10008) before any handler runs, with a 400 that is no verdict. The methods are
 * global to the instance: on the other routes an unknown method is an unknown route (404).
 */
function supportEveryNodeMethod(app: FastifyInstance): void {
  for (const method of METHODS) {
    if (method === 'QUERY') app.addHttpMethod(method, { hasBody: false, overrideExisting: true });
    else if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: false });
  }
}

/**
 * Fastify's `trustProxy`, except that a hop count trusts that many hops from the socket
 * (proxy-addr's own rule): Fastify 5.12.1 started to ignore a bare number, and SPEC §4.2 promises
 * it. The config has already validated the value.
 */
function trustFor(setting: Config['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting !== 'number') return typeof setting === 'boolean' ? setting : [...setting];
  const hops = setting;
  return (_address, hop) => hop < hops;
}

export function buildServer(deps: HttpDeps, options: ServerOptions = {}): FastifyInstance {
  const gateway = hasGateway(deps.config);
  const { counters } = options;
  const check = forwardAuthCheck(deps, counters);
  const checkLogger = new CheckLogger();
  // Forward auth's fast lane (src/http/check-lane.ts) sees each request first; what it leaves
  // goes to Fastify. While the server closes, Fastify answers everything (503).
  let closing = false;
  const lane = checkLane(check, () => checkLogger.get(app.log));
  const app = Fastify({
    serverFactory: (handler, settings) => {
      const server = createServer((req, res) => {
        if (closing || !lane(req, res)) handler(req, res);
      });
      // What Fastify sets on the server it makes itself (it has filled in its defaults).
      const timeouts = settings as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number };
      server.keepAliveTimeout = timeouts.keepAliveTimeout;
      server.requestTimeout = timeouts.requestTimeout;
      server.setTimeout(timeouts.connectionTimeout);
      return server;
    },
    logger: options.logger ?? loggerOptions(options.logDestination),
    bodyLimit: deps.config.bodyLimit,
    trustProxy: trustFor(deps.config.trustProxy),
    routerOptions: { querystringParser: parseQuery as never, ignoreTrailingSlash: false, maxParamLength: 500 },
    return503OnClosing: true,
    // Forward auth writes no line per request (SPEC §7: the hot path does no I/O; refusals are
    // counted, not logged one by one); skipping Fastify's request lines there also skips
    // building their arguments. The API keeps its two lines per request.
    // The gateway (every path outside tokenbox's own, when it is on) likewise.
    logController: new LogController({
      disableRequestLogging: (request: { url?: string }) => request.url?.startsWith(CHECK_PREFIX) === true || (gateway && !isReservedPath(request.url ?? '/')),
    }),
    // A path that cannot be decoded, or a segment no username or id could fill, matches no
    // route: it is an unknown route (404), answered with the same wire rules as any other.
    frameworkErrors: (_error, request, frameworkReply) => {
      const reply = frameworkReply as unknown as FastifyReply;
      if (request.url.startsWith(CHECK_PREFIX)) {
        // Envoy puts the client's path after the prefix: an undecodable one is the original URI's fault.
        const { status, message } = CATALOGUE.original_uri_invalid;
        void reply.code(status).header('X-Tokenbox-Status', String(status)).header('X-Tokenbox-Message', message).send({ message });
        return;
      }
      void reply.code(404).header('Access-Control-Allow-Origin', '*').header('Cache-Control', 'no-store').send({ message: CATALOGUE.not_found.message });
    },
  });

  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.decorateRequest('grant', null);
  app.decorateRequest('adminKeyId', null);
  supportEveryNodeMethod(app);
  // Outside the API no body is read (an unknown route is 404 whatever its body); each surface
  // below declares what it parses.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.setErrorHandler((error, request, reply) => {
    const mapped = toHttpError(error);
    if (mapped.unexpected) request.log.error({ err: error }, 'request failed');
    return reply.code(mapped.status).send({ message: mapped.message });
  });
  // An unknown route is the API's 404 (SPEC §4.3), with its wire rules.
  app.setNotFoundHandler((_request, reply) => withApiHeaders(reply).code(404).send({ message: CATALOGUE.not_found.message }));

  // Each surface is its own encapsulated scope, so no hook or parser of one reaches another: the
  // API's CORS and JSON-only rules never touch forward auth (or, later, the gateway's upstream
  // answers and the page).
  void app.register(async (api) => {
    if (counters) countRequests(api, counters);
    apiSurface(api, deps);
  });
  // The operators' API (SPEC §10): the same wire rules, its own auth (admin keys only).
  void app.register(async (admin) => {
    if (counters) countRequests(admin, counters);
    adminSurface(admin, deps);
  });
  // The Access tokens page (SPEC §9): its own CSP, no CORS, its own 404s.
  void app.register(
    async (page) => {
      if (counters) countRequests(page, counters);
      pageSurface(page, deps);
    },
    { prefix: '/account' },
  );
  void app.register(async (proxy) => {
    // The proxy may forward the client's body (Envoy can): it is never read, whatever its type.
    forwardAuthRoutes(proxy, check, checkLogger);
  });
  // The gateway last, on a catch-all: tokenbox's own routes are more specific and win.
  if (gateway) void app.register(async (proxied) => gatewayRoutes(proxied, deps, counters));
  return app;
}

/**
 * Counts every answer of this scope by route pattern and status (metrics on only). Forward auth
 * and the gateway count their verdicts instead, with no hook on their hot path.
 */
function countRequests(scope: FastifyInstance, counters: RequestCounters): void {
  scope.addHook('onResponse', (request, reply, done) => {
    counters.request(request.routeOptions.url ?? 'unmatched', reply.statusCode);
    done();
  });
}

/** SPEC §3's CORS headers on an API answer (every one, errors included). */
function withApiHeaders(reply: FastifyReply): FastifyReply {
  return reply.header('Access-Control-Allow-Origin', '*').header('Access-Control-Expose-Headers', EXPOSED_HEADERS).header('Cache-Control', 'no-store');
}

/**
 * The Tokens and Scopes APIs (and later Analytics), `/health` and `/openapi.json`: JSON bodies
 * only, CORS `*` without credentials, a preflight for any path answered 204 without auth.
 */
function apiSurface(api: FastifyInstance, deps: HttpDeps): void {
  applyApiWireRules(api);
  // Preflights on tokenbox's own paths only: every other path may be the gateway's, whose
  // upstreams answer their own (SPEC §3's CORS is the API's, never a proxied answer's). The
  // operators' API answers its own, in its scope.
  for (const url of ['/tokens/*', '/scopes/*', '/analytics/*', '/health', '/openapi.json']) preflightRoute(api, url);
  healthRoute(api, deps);
  api.get('/openapi.json', async () => buildOpenApi());
  retrieveTokenRoute(api, deps);
  listTokensRoute(api, deps);
  createTokenRoute(api, deps);
  updateTokenRoute(api, deps);
  deleteTokenRoute(api, deps);
  listScopesRoute(api, deps);
  analyticsRoute(api, deps);
}
