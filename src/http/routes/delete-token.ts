/** `DELETE /tokens/v2/{username}/{id}`: 204; the default token is refreshed instead. */
import type { FastifyInstance } from 'fastify';
import { requireScope } from '../auth.js';
import type { HttpDeps } from '../context.js';

export function deleteTokenRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.delete('/tokens/v2/:username/:id', { onRequest: requireScope(deps, 'tokens:write', { permanentWrite: true }) }, async (request, reply) => {
    const { id } = request.params as { id: string };
    await deps.tokens.delete(request.grant!, id);
    return reply.code(204).send();
  });
}
