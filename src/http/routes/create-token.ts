/** `POST /tokens/v2/{username}`: a pk/sk, or a tk when the body has `expires`. */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../domain/errors.js';
import { assertMayWritePermanent } from '../../services/access.js';
import { requireScope } from '../auth.js';
import type { HttpDeps } from '../context.js';
import { createTemporaryTokenBody, createTokenBody, parseIdempotencyKey, parseInput } from '../../services/inputs.js';

export function createTokenRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.post('/tokens/v2/:username', { onRequest: requireScope(deps, 'tokens:write') }, async (request, reply) => {
    const body = request.body === undefined ? {} : request.body;
    reply.header('Cache-Control', 'no-store');
    if (typeof body === 'object' && body !== null && Object.hasOwn(body, 'expires')) {
      // A temporary token takes no restrictions: such a key is wrong, not merely unknown.
      const input = parseInput(createTemporaryTokenBody, body, (key) => (key === 'allowedUrls' ? new AppError('allowed_urls_invalid') : undefined));
      return deps.temporary.create(request.grant!, input);
    }
    // A tk may mint tks but never a pk or sk: 404, checked before the body (SPEC §4.3 order).
    assertMayWritePermanent(request.grant!);
    const input = parseInput(createTokenBody, body);
    // A tk stores nothing, so only pk/sk creates are made once per key (a second tk is harmless).
    return deps.tokens.create(request.grant!, input, parseIdempotencyKey(request.headers['idempotency-key']));
  });
}
