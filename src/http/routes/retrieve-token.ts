/** `GET /tokens/v2?access_token=…`: what the presented token is; the token is the subject. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../domain/errors.js';
import { ipKey, limit, requestToken, tokenKey } from '../auth.js';
import type { Retrieved } from '../../services/temporary-tokens-service.js';
import type { HttpDeps } from '../context.js';

const MALFORMED: Retrieved = Object.freeze({ result: Object.freeze({ code: 'TokenMalformed' as const }), subject: null });

export function retrieveTokenRoute(app: FastifyInstance, deps: HttpDeps): void {
  // Synchronous for a cached token (the common case): no promise between request and answer.
  app.get('/tokens/v2', (request: FastifyRequest, reply: FastifyReply) => {
    const presented = requestToken(request);
    if (presented.kind === 'none') {
      return after(limit(deps, reply, ipKey(request)), () => {
        throw new AppError('access_token_required');
      });
    }
    const retrieved = presented.kind === 'token' ? deps.temporary.retrieve(presented.raw) : MALFORMED;
    return after(retrieved, (settled) => {
      // A verified token counts in its own bucket; anything else in the client IP's (SPEC §3).
      const key = settled.subject === null ? ipKey(request) : tokenKey(settled.subject);
      return after(limit(deps, reply, key), () => reply.header('Cache-Control', 'no-store').send(settled.result));
    });
  });
}

/** Continues with `next` at once for a value, or after it for a promise. */
function after<T, R>(value: T | Promise<T>, next: (settled: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}
