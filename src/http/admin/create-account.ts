/** `POST /admin/v1/accounts` `{"username", "password"?}`: 201 with the default public token. */
import type { FastifyInstance } from 'fastify';
import { adminCallerOf, requireAdmin } from '../auth.js';
import type { HttpDeps } from '../context.js';

export function createAccountRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.post('/admin/v1/accounts', { onRequest: requireAdmin(deps) }, async (request, reply) => {
    const created = await deps.adminAccounts.create(adminCallerOf(request), request.body);
    return reply.code(201).send(created);
  });
}
