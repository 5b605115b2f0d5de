/** `GET /tokens/v2/{username}`: one keyset page, with `Link: <…>; rel="next"` while more remain. */
import type { FastifyInstance } from 'fastify';
import { requireScope } from '../auth.js';
import type { HttpDeps } from '../context.js';
import { setNextLink } from '../next-link.js';
import { givenParams, type QueryValues } from '../query.js';
import { listTokensQuery, parseInput } from '../../services/inputs.js';

const LIST_PARAMS = ['default', 'limit', 'sortby', 'start', 'usage'] as const;

export function listTokensRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/tokens/v2/:username', { onRequest: requireScope(deps, 'tokens:read') }, async (request, reply) => {
    const given = givenParams(request.query as QueryValues, LIST_PARAMS);
    const query = parseInput(listTokensQuery, Object.fromEntries(given));
    const page = await deps.tokens.list(request.grant!, {
      sortBy: query.sortby ?? 'created',
      limit: query.limit === undefined ? 100 : Number(query.limit),
      ...(query.start !== undefined && { start: query.start }),
      ...(query.usage !== undefined && { usage: query.usage }),
      ...(query.default !== undefined && { isDefault: query.default === 'true' }),
    });
    if (page.next !== null) setNextLink(deps, request, reply, given, page.next);
    reply.header('Cache-Control', 'no-store');
    return page.tokens;
  });
}
