/** `DELETE /admin/v1/accounts/{username}`: 204; the account, every token of it (each refused at once) and its sessions go. */
import type { FastifyInstance } from 'fastify';
import { adminCallerOf, requireAdmin } from '../auth.js';
import type { HttpDeps } from '../context.js';

export function deleteAccountRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.delete('/admin/v1/accounts/:username', { onRequest: requireAdmin(deps) }, async (request, reply) => {
    const { username } = request.params as { username: string };
    await deps.adminAccounts.delete(username, adminCallerOf(request));
    return reply.code(204).send();
  });
}
