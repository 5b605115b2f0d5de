/** `GET /admin/v1/accounts/{username}`: the account as the list shows it. */
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../auth.js';
import type { HttpDeps } from '../context.js';

export function getAccountRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/admin/v1/accounts/:username', { onRequest: requireAdmin(deps) }, async (request) => {
    const { username } = request.params as { username: string };
    return deps.adminAccounts.get(username);
  });
}
