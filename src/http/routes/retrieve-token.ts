/** `GET /tokens/v2?access_token=…`: what the presented token is; the token is the subject. */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../domain/errors.js';
import { accountKey, ipKey, limit, presentedToken } from '../auth.js';
import type { RetrieveResult } from '../../services/temporary-tokens-service.js';
import type { HttpDeps } from '../context.js';

export function retrieveTokenRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/tokens/v2', async (request, reply) => {
    const presented = presentedToken(request);
    if (presented.kind === 'none') {
      await limit(deps, reply, ipKey(request));
      throw new AppError('access_token_required');
    }
    const result: RetrieveResult =
      presented.kind === 'token' ? await deps.temporary.retrieve(presented.raw) : { code: 'TokenMalformed' };
    await limit(deps, reply, result.token ? accountKey(result.token.user, result.token.usage) : ipKey(request));
    reply.header('Cache-Control', 'no-store');
    return result;
  });
}
