/** `PATCH /admin/v1/accounts/{username}` `{"disabled": true|false}`: 200 with the account as it is now. */
import type { FastifyInstance } from 'fastify';
import { adminCallerOf, requireAdmin } from '../auth.js';
import type { HttpDeps } from '../context.js';

export function patchAccountRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.patch('/admin/v1/accounts/:username', { onRequest: requireAdmin(deps) }, async (request) => {
    const { username } = request.params as { username: string };
    return deps.adminAccounts.patch(username, request.body, adminCallerOf(request));
  });
}
