/** `GET /admin/v1/audit`: one keyset page of the audit log, newest first, with `Link: <…>; rel="next"` while more remain. */
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../auth.js';
import type { HttpDeps } from '../context.js';
import { setNextLink } from '../next-link.js';
import { givenParams, type QueryValues } from '../query.js';

const LIST_PARAMS = ['account', 'action', 'limit', 'start'] as const;

export function listAuditRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/admin/v1/audit', { onRequest: requireAdmin(deps) }, async (request, reply) => {
    const given = givenParams(request.query as QueryValues, LIST_PARAMS);
    const page = await deps.audit.list(Object.fromEntries(given));
    if (page.next !== null) setNextLink(deps, request, reply, given, page.next);
    return page.entries;
  });
}
