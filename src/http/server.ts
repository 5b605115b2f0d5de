/**
 * The HTTP server: wire rules of SPEC §3 (JSON only, CORS, no-store, errors as `{message}`),
 * the routes, and logs that never hold a token.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { AppError, CATALOGUE } from '../domain/errors.js';
import type { HttpDeps } from './context.js';
import { toHttpError } from './error-mapper.js';
import { buildOpenApi } from './openapi.js';
import { decodeComponent, parseQuery } from './query.js';
import { CHECK_PREFIX } from './original-request.js';
import { createTokenRoute } from './routes/create-token.js';
import { forwardAuthRoutes } from './routes/forward-auth.js';
import { deleteTokenRoute } from './routes/delete-token.js';
import { healthRoute } from './routes/health.js';
import { listScopesRoute } from './routes/list-scopes.js';
import { listTokensRoute } from './routes/list-tokens.js';
import { retrieveTokenRoute } from './routes/retrieve-token.js';
import { updateTokenRoute } from './routes/update-token.js';

/**
 * A URL with every `access_token` value replaced, for logs. Parameter names are decoded the way
 * the query parser decodes them, and in any case, so `acc%65ss_token` and `ACCESS_TOKEN` are
 * redacted as well.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      return decodeComponent(name).toLowerCase() === 'access_token' ? `${name}=[redacted]` : part;
    });
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

export interface ServerOptions {
  /** pino options, `false` for none; the default logs at `info` to stdout. */
  readonly logger?: FastifyServerOptions['logger'];
}

export function buildServer(deps: HttpDeps, options: ServerOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? {
      level: 'info',
      serializers: {
        // Method and redacted URL only: no headers, no bodies, no query tokens.
        req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: redactUrl(req.url), id: req.id }),
      },
    },
    bodyLimit: deps.config.bodyLimit,
    trustProxy: deps.config.trustProxy,
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
