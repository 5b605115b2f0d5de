/** `PUT /admin/v1/accounts/{username}/password` `{"password"}`: 204; the account's page sessions end. */
import type { FastifyInstance } from 'fastify';
import { adminCallerOf, requireAdmin } from '../auth.js';
import type { HttpDeps } from '../context.js';

export function setPasswordRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.put('/admin/v1/accounts/:username/password', { onRequest: requireAdmin(deps) }, async (request, reply) => {
    const { username } = request.params as { username: string };
    await deps.adminAccounts.setPassword(username, request.body, adminCallerOf(request));
    return reply.code(204).send();
  });
}
