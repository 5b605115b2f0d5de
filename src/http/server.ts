/**
 * The HTTP server: wire rules of SPEC §3 (JSON only, CORS, no-store, errors as `{message}`),
 * the routes, and logs that never hold a token.
 */
import { METHODS } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { AppError, CATALOGUE } from '../domain/errors.js';
import type { Config } from '../config/config.js';
import type { HttpDeps } from './context.js';
import { toHttpError } from './error-mapper.js';
import { buildOpenApi } from './openapi.js';
import { parseQuery } from './query.js';
import { redactText, redactUrl } from './redact.js';
import { CHECK_PREFIX } from './original-request.js';
import { createTokenRoute } from './routes/create-token.js';
import { forwardAuthRoutes } from './routes/forward-auth.js';
import { deleteTokenRoute } from './routes/delete-token.js';
import { healthRoute } from './routes/health.js';
import { listScopesRoute } from './routes/list-scopes.js';
import { listTokensRoute } from './routes/list-tokens.js';
import { retrieveTokenRoute } from './routes/retrieve-token.js';
import { updateTokenRoute } from './routes/update-token.js';

/** Where the server's log lines go: one serialised JSON line per call. */
export interface LogDestination {
  write(line: string): unknown;
}

export interface ServerOptions {
  /** `false`: no logging at all (tests, benchmarks). Otherwise the production logger, {@link loggerOptions}. */
  readonly logger?: false;
  /** Where the production logger writes; stdout by default. Tests pass a stream they read. */
  readonly logDestination?: LogDestination;
}

/**
 * The production logger (SPEC §7: logs never hold a token). The request is logged as its method,
 * redacted URL and id only: no headers (so no `Authorization`, `X-Original-URI` or
 * `X-Forwarded-Uri`), no bodies. Errors are logged as type, code, message and stack only (a
 * parser error's `rawPacket` holds the raw request line). And every serialised line passes
 * {@link redactText} on its way out, so a token that reaches a message or any other field by some
 * other route (a framework error quoting the URL, say) is still replaced.
 */
export function loggerOptions(destination: LogDestination = process.stdout): NonNullable<FastifyServerOptions['logger']> {
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
  const app = Fastify({
    logger: options.logger ?? loggerOptions(options.logDestination),
    bodyLimit: deps.config.bodyLimit,
    trustProxy: trustFor(deps.config.trustProxy),
    routerOptions: { querystringParser: parseQuery as never, ignoreTrailingSlash: false, maxParamLength: 500 },
    return503OnClosing: true,
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
      void reply
        .code(404)
        .header('Access-Control-Allow-Origin', '*')
        .header('Cache-Control', 'no-store')
        .send({ message: CATALOGUE.not_found.message });
    },
  });

  app.decorateRequest('grant', null);
  supportEveryNodeMethod(app);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new AppError('body_not_json'));
    }
  });

  // A callback hook, not an async one: it runs on every request, forward auth's included.
  app.addHook('onRequest', (request, reply, done) => {
    // Forward auth answers proxies, not browsers: any method, OPTIONS included, is a request to check.
    if (request.url.startsWith(CHECK_PREFIX)) return done();
    reply.header('Access-Control-Allow-Origin', '*');
    reply.header('Access-Control-Expose-Headers', 'Link, X-Rate-Limit-Interval, X-Rate-Limit-Limit, X-Rate-Limit-Reset, Retry-After');
    if (request.method === 'OPTIONS') {
      reply
        .code(204)
        .header('Access-Control-Allow-Methods', 'GET, POST, PATCH, DELETE')
        .header('Access-Control-Allow-Headers', 'Authorization, Content-Type')
        .header('Access-Control-Max-Age', '600')
        .send();
      return;
    }
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const mapped = toHttpError(error);
    if (mapped.unexpected) request.log.error({ err: error }, 'request failed');
    return reply.code(mapped.status).send({ message: mapped.message });
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ message: 'Not found' }));

  healthRoute(app, deps);
  app.get('/openapi.json', async () => buildOpenApi());
  retrieveTokenRoute(app, deps);
  listTokensRoute(app, deps);
  createTokenRoute(app, deps);
  updateTokenRoute(app, deps);
  deleteTokenRoute(app, deps);
  listScopesRoute(app, deps);
  void app.register(async (scope) => {
    // The proxy may forward the client's body (Envoy can): it is never read, whatever its type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    forwardAuthRoutes(scope, deps);
  });
  return app;
}
