/**
 * The gateway (SPEC §5, way in 3): a route rule with `upstream` is proxied by `serve`. Every
 * request is judged by `authorizeResource`, exactly as forward auth judges one; an allowed request
 * goes to the rule's upstream with its token removed and tokenbox's identity headers added, and
 * the upstream's answer comes back untouched. Built on `@fastify/reply-from` (undici underneath):
 * bodies stream both ways, upstream connections are kept alive, hop-by-hop headers are dropped.
 *
 * It is its own encapsulated Fastify scope, registered after the API and forward auth, with a
 * catch-all route: tokenbox's own routes are more specific and win, so a `/*` rule takes only
 * what they leave, and none of the API's hooks (CORS, `no-store`, JSON only) reaches it.
 * docs/gateway.md is the user's account of what follows.
 */
import { METHODS, validateHeaderName, validateHeaderValue, type IncomingHttpHeaders } from 'node:http';
import replyFrom from '@fastify/reply-from';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.js';
import { AppError, CATALOGUE, type ErrorCode } from '../domain/errors.js';
import { isReservedPath, RouteTable, type CompiledRoute } from '../domain/route-rules.js';
import type { Refusal } from '../verification/verifier.js';
import type { RequestCounters } from './metrics.js';
import type { HttpDeps } from './context.js';
import { toHttpError } from './error-mapper.js';
import { readRequestTarget, type OriginalRequest } from './original-request.js';
import { authorizeResource, refusalRateHeaders, type ResourceJudge, type ResourceVerdict } from './request-authorizer.js';

/** How long the gateway waits for a TCP (and TLS) connection to an upstream: then 504. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Whether the config has anything for the gateway to proxy (else it is not registered at all). */
export function hasGateway(config: Config): boolean {
  return config.routes.some((r) => r.upstream !== undefined);
}

type Allowed = Extract<ResourceVerdict, { ok: true }>;

/**
 * Request headers never forwarded: hop-by-hop ones (RFC 9110 §7.6.1; `connection` and the names it
 * lists are removed by reply-from), and `expect` (Node has already answered the client's
 * `100-continue`; undici refuses the header).
 */
const HOP_BY_HOP_REQUEST = ['keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect', 'transfer-encoding'];
/** Response headers never passed back: hop-by-hop, and those the connection to the client sets itself. */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding']);
const BEARER = /^bearer /i;

export async function gatewayRoutes(app: FastifyInstance, deps: HttpDeps, counters?: RequestCounters): Promise<void> {
  const routes = new RouteTable(deps.config.routes);
  const judge: ResourceJudge = { verifier: deps.verifier, limiter: deps.limiter, clock: deps.clock, tokenRateLimit: deps.config.tokenRateLimit };
  const timeout = deps.config.upstreamTimeoutMs;

  await app.register(replyFrom, {
    // One undici Agent for every upstream: a keep-alive pool per origin.
    undici: { connections: 128, pipelining: 1, headersTimeout: timeout, bodyTimeout: timeout, connect: { timeout: CONNECT_TIMEOUT_MS } },
    // Each request names its own upstream, so reply-from's per-URL cache would only churn.
    disableCache: true,
    disableRequestLogging: true,
    // Close the upstream connections when tokenbox closes.
    destroyAgent: true,
  });

  // Any body, of any type and size, is passed through as the raw stream, never read here (so
  // `bodyLimit`, the API's cap, does not apply: only parsers that read a body enforce it).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  const handler = (request: FastifyRequest, reply: FastifyReply): FastifyReply | Promise<FastifyReply> => {
    let target: OriginalRequest;
    let route: CompiledRoute | null;
    try {
      target = readRequestTarget(request.url, request.method);
      // A path a common upstream would read another way is refused, as forward auth refuses it.
      if (hasDotSegment(target, request.url)) throw new AppError('original_uri_invalid');
      if (isReservedPath(target.path) || target.otherReadings.some(isReservedPath)) return notFound(reply);
      route = routes.matchEvery(target.method, target.path, target.otherReadings);
    } catch (error) {
      if (error instanceof AppError) return send(reply, 'bad_request');
      throw error;
    }
    // The first matching rule decides: one without `upstream` serves forward auth only, and a
    // later catch-all must not forward the path under a weaker scope.
    const upstream = route?.rule.upstream;
    if (route === null || upstream === undefined) return notFound(reply);
    if (hasBody(request) && (request.method === 'GET' || request.method === 'HEAD')) return send(reply, 'bad_request');
    const verdict = authorizeResource(judge, { headers: request.headers, query: target.query, scope: route.rule.scope, route });
    const next = (v: ResourceVerdict): FastifyReply => {
      if (counters !== undefined) counters.verdict('gateway', v.ok ? 'valid' : v.code, v.ok ? 200 : v.status);
      return v.ok ? forward(request, reply, upstream, v) : refuse(reply, v);
    };
    return verdict instanceof Promise ? verdict.then(next) : next(verdict);
  };

  // Successful requests write no log line at the default level (SPEC §7), as in forward auth:
  // one warn-level child logger, made once, serves every request (so Fastify's request lines are
  // skipped); upstream failures are logged at warn by reply-from.
  let gatewayLogger: FastifyBaseLogger | null = null;
  const childLoggerFactory = (logger: FastifyBaseLogger): FastifyBaseLogger => (gatewayLogger ??= logger.child({ surface: 'gateway' }, { level: 'warn' }));
  app.route({ method: METHODS, url: '/*', childLoggerFactory, handler });

  // The framework's body errors (a Content-Type it cannot parse) do not concern a body that is
  // never read: the request is judged and forwarded with its raw stream.
  app.setErrorHandler((error, request, reply) => {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('FST_ERR_CTP_') && !reply.sent) {
      request.body = request.raw;
      return handler(request, reply);
    }
    const mapped = toHttpError(error);
    if (mapped.unexpected) request.log.error({ err: error }, 'gateway failed');
    return reply.code(mapped.status).header('cache-control', 'no-store').send({ message: mapped.message });
  });

  function forward(request: FastifyRequest, reply: FastifyReply, upstream: string, verdict: Allowed): FastifyReply {
    // Methods Fastify treats as bodyless (QUERY, PURGE…) reach no parser: their body, if any, is
    // forwarded as the raw stream all the same.
    if (request.body === undefined && hasBody(request)) request.body = request.raw;
    let badUpstreamHeaders = false;
    return reply.from(`${upstream}${rawPath(request.url)}`, {
      timeout,
      queryString: (_search, url) => withoutAccessToken(url),
      rewriteRequestHeaders: (_request, headers) => forwardedHeaders(headers, verdict),
      rewriteHeaders: (headers) => {
        const passed = upstreamHeaders(headers);
        badUpstreamHeaders = passed === null;
        return passed ?? {};
      },
      onResponse: (_request, _reply, res) => {
        if (reply.sent || badUpstreamHeaders) {
          res.stream.destroy();
          if (!reply.sent) send(reply, 'bad_gateway');
          return;
        }
        void reply.send(res.stream);
      },
      onError: (_reply, { error }) => onError(reply, error),
      // Never retried: a request (and its body) goes to the upstream once; a 503 is passed back.
      retryDelay: () => null,
    });
  }
}

/** The client's headers as the upstream gets them: no token, no client `X-Tokenbox-*`, ours added. */
function forwardedHeaders(headers: IncomingHttpHeaders, verdict: Allowed): IncomingHttpHeaders {
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-tokenbox-')) delete headers[name];
  }
  for (const name of HOP_BY_HOP_REQUEST) delete headers[name];
  if (headers.authorization !== undefined && BEARER.test(headers.authorization)) delete headers.authorization;
  headers['x-tokenbox-user'] = verdict.user;
  headers['x-tokenbox-token-id'] = verdict.tokenId;
  headers['x-tokenbox-usage'] = verdict.usage;
  return headers;
}

/**
 * The upstream's headers, passed back untouched but for hop-by-hop ones (and those its
 * `Connection` names). null when one is a header Node could not send on (a control character in
 * a value): the answer becomes a 502 rather than a crash mid-reply.
 */
function upstreamHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders | null {
  const listed =
    typeof headers.connection === 'string'
      ? headers.connection
          .toLowerCase()
          .split(',')
          .map((s) => s.trim())
      : [];
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (HOP_BY_HOP_RESPONSE.has(name) || listed.includes(name) || value === undefined) continue;
    try {
      validateHeaderName(name);
      for (const v of Array.isArray(value) ? value : [value]) validateHeaderValue(name, v);
    } catch {
      return null;
    }
    out[name] = value;
  }
  return out;
}

/** reply-from's errors, by their cause: a timeout is 504, every other upstream failure 502. */
function onError(reply: FastifyReply, error: Error): void {
  if (reply.sent) return;
  const cause = (error as { cause?: { code?: unknown; name?: unknown } }).cause;
  const codes = [(error as { code?: unknown }).code, cause?.code, cause?.name];
  const timedOut = codes.some(
    (c) => c === 'UND_ERR_HEADERS_TIMEOUT' || c === 'UND_ERR_CONNECT_TIMEOUT' || c === 'UND_ERR_BODY_TIMEOUT' || c === 'FST_REPLY_FROM_GATEWAY_TIMEOUT',
  );
  send(reply, timedOut ? 'gateway_timeout' : 'bad_gateway');
}

function refuse(reply: FastifyReply, verdict: Refusal): FastifyReply {
  reply.code(verdict.status).header('cache-control', 'no-store').headers(refusalRateHeaders(verdict));
  return reply.type('application/json; charset=utf-8').send(JSON.stringify({ message: verdict.message }));
}

/** tokenbox's own answer on the gateway: `{message}` from the catalogue, never cached. */
function send(reply: FastifyReply, code: ErrorCode): FastifyReply {
  const { status, message } = CATALOGUE[code];
  // A stale upstream header (copied before the failure) must not ride on tokenbox's answer.
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
  return reply.code(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify({ message }));
}

/** tokenbox's 404 for an unknown route (the root scope's handler), for a path no rule forwards. */
function notFound(reply: FastifyReply): FastifyReply {
  reply.callNotFound();
  return reply;
}

function hasBody(request: FastifyRequest): boolean {
  const { headers } = request;
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}

/** The path as the client sent it (the query and any fragment cut off): forwarded unchanged. */
function rawPath(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

/**
 * A `.` or `..` segment, raw or percent-encoded. Clients resolve them before sending (browsers,
 * curl, fetch), and the upstream URL would be rewritten if they were forwarded, so a request
 * holding one could not be forwarded unchanged: it is refused rather than matched as one path and
 * sent as another.
 */
function hasDotSegment(target: OriginalRequest, url: string): boolean {
  return target.path !== decodedPathOf(url);
}

/** The path decoded once with slashes merged: what `readRequestTarget` makes of a path without dot segments. */
function decodedPathOf(url: string): string {
  const path = rawPath(url);
  if (!/[%;\\]|\/\/|\/\.\.?(?:\/|$)/.test(path)) return path;
  try {
    return decodeURIComponent(path).replace(/\/{2,}/g, '/');
  } catch {
    return '';
  }
}

/**
 * The query without `access_token`, in every spelling the query parser reads as that name
 * (`access%5Ftoken`…); every other parameter kept, spelled and ordered as sent.
 */
function withoutAccessToken(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return '';
  const hash = url.indexOf('#', q);
  const query = hash === -1 ? url.slice(q + 1) : url.slice(q + 1, hash);
  if (!/access|%/i.test(query)) return query;
  return query
    .split('&')
    .filter((part) => parameterName(part) !== 'access_token')
    .join('&');
}

function parameterName(part: string): string {
  const eq = part.indexOf('=');
  const name = (eq === -1 ? part : part.slice(0, eq)).replace(/\+/g, ' ');
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}
