/** `GET /scopes/v1/{username}`: the scope catalog. */
import type { FastifyInstance } from 'fastify';
import { requireScope } from '../auth.js';
import type { HttpDeps } from '../context.js';

export function listScopesRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/scopes/v1/:username', { onRequest: requireScope(deps, 'scopes:list') }, async (request) => deps.accounts.listScopes(request.grant!));
}
