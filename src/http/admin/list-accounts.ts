/** `GET /admin/v1/accounts`: one keyset page, oldest first, with `Link: <…>; rel="next"` while more remain. */
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../auth.js';
import type { HttpDeps } from '../context.js';
import { setNextLink } from '../next-link.js';
import { givenParams, type QueryValues } from '../query.js';

const LIST_PARAMS = ['limit', 'start'] as const;

export function listAccountsRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/admin/v1/accounts', { onRequest: requireAdmin(deps) }, async (request, reply) => {
    const given = givenParams(request.query as QueryValues, LIST_PARAMS);
    const page = await deps.adminAccounts.list(Object.fromEntries(given));
    if (page.next !== null) setNextLink(deps, request, reply, given, page.next);
    return page.accounts;
  });
}
