/** `PATCH /tokens/v2/{username}/{id}`: `null` removes a restriction. */
import type { FastifyInstance } from 'fastify';
import { requireScope } from '../auth.js';
import type { HttpDeps } from '../context.js';
import { parseInput, updateTokenBody } from '../../services/inputs.js';

export function updateTokenRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.patch('/tokens/v2/:username/:id', { onRequest: requireScope(deps, 'tokens:write', { permanentWrite: true }) }, async (request, reply) => {
    const input = parseInput(updateTokenBody, request.body === undefined ? {} : request.body);
    const { id } = request.params as { id: string };
    const { resources: _ignored, ...patch } = input;
    reply.header('Cache-Control', 'no-store');
    return deps.tokens.update(request.grant!, id, patch);
  });
}
