/**
 * `GET /analytics/v1/tokens/{username}/{id}?period=<ISO>,<ISO>` (SPEC §5): a token's requests per
 * UTC day. Takes the token's id where Mapbox takes the whole token: a token in a URL path ends up
 * in logs.
 */
import type { FastifyInstance } from 'fastify';
import { requireScope } from '../auth.js';
import type { HttpDeps } from '../context.js';
import { single, type QueryValues } from '../query.js';

export function analyticsRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/analytics/v1/tokens/:username/:id', { onRequest: requireScope(deps, 'analytics:read') }, async (request) => {
    const { id } = request.params as { id: string };
    return deps.analytics.tokenUsage(request.grant!, id, single(request.query as QueryValues, 'period'));
  });
}
