/** `GET /tokens/v2/{username}`: one keyset page, with `Link: <…>; rel="next"` while more remain. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireScope } from '../auth.js';
import type { HttpDeps } from '../context.js';
import { formatQuery, single, type QueryValues } from '../query.js';
import { listTokensQuery, parseInput } from '../../services/inputs.js';

const LIST_PARAMS = ['default', 'limit', 'sortby', 'start', 'usage'] as const;

export function listTokensRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/tokens/v2/:username', { onRequest: requireScope(deps, 'tokens:read') }, async (request, reply) => {
    const raw = request.query as QueryValues;
    const given = Object.fromEntries(
      LIST_PARAMS.flatMap((name) => {
        const value = single(raw, name);
        return value === undefined ? [] : [[name, value]];
      }),
    );
    const query = parseInput(listTokensQuery, given);
    const page = await deps.tokens.list(request.grant!, {
      sortBy: query.sortby ?? 'created',
      limit: query.limit === undefined ? 100 : Number(query.limit),
      ...(query.start !== undefined && { start: query.start }),
      ...(query.usage !== undefined && { usage: query.usage }),
      ...(query.default !== undefined && { isDefault: query.default === 'true' }),
    });
    if (page.next !== null) reply.header('Link', `<${nextUrl(deps, request, given, page.next)}>; rel="next"`);
    reply.header('Cache-Control', 'no-store');
    return page.tokens;
  });
}

/**
 * The next page's URL: every list parameter repeated, `start` replaced, never `access_token`;
 * on `publicUrl` when set, else the request's own host (proxy headers only with `trustProxy`).
 */
function nextUrl(deps: HttpDeps, request: FastifyRequest, given: Record<string, string>, next: string): string {
  const base = deps.config.publicUrl?.replace(/\/+$/, '') ?? `${request.protocol}://${request.host}`;
  const path = request.url.split('?', 1)[0] as string;
  const params = LIST_PARAMS.filter((name) => name !== 'start' && given[name] !== undefined).map((name) => [name, given[name] as string] as const);
  return `${base}${path}?${formatQuery([...params, ['start', next]])}`;
}
