/**
 * SPEC §3's wire rules, shared by the surfaces that follow them (the Tokens, Scopes and Analytics
 * APIs, and the operators' API), each applying them inside its own encapsulated scope: JSON
 * bodies only, CORS `*` and never `Access-Control-Allow-Credentials`, and a preflight answered
 * 204 without auth.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../domain/errors.js';

export const EXPOSED_HEADERS = 'Link, X-Rate-Limit-Interval, X-Rate-Limit-Limit, X-Rate-Limit-Reset, Retry-After';

/** The Tokens API's methods (SPEC §3). */
export const API_METHODS = 'GET, POST, PATCH, DELETE';

/** JSON bodies only in `scope`: anything else is 415, unparseable JSON 400 `Body is not valid JSON`. */
export function acceptJsonOnly(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new AppError('body_not_json'));
    }
  });
}

/** JSON bodies only (anything else is 415), and the CORS headers on every answer of `scope`. */
export function applyApiWireRules(scope: FastifyInstance): void {
  acceptJsonOnly(scope);
  // A callback hook, not an async one: it runs on every API request.
  scope.addHook('onRequest', (_request, reply, done) => {
    reply.header('Access-Control-Allow-Origin', '*');
    reply.header('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    done();
  });
}

/** The CORS preflight for `url`: 204 without auth. */
export function preflightRoute(scope: FastifyInstance, url: string, methods: string = API_METHODS): void {
  scope.route({
    method: 'OPTIONS',
    url,
    handler: (_request, reply: FastifyReply) =>
      reply
        .code(204)
        .header('Access-Control-Allow-Methods', methods)
        .header('Access-Control-Allow-Headers', 'Authorization, Content-Type')
        .header('Access-Control-Max-Age', '600')
        .send(),
  });
}
