/** `GET /health`: 200 while the store answers, else 503. Exempt from rate limits. */
import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from '../context.js';

export function healthRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/health', async (_request, reply) => {
    try {
      await deps.store.ping();
      return { status: 'ok' };
    } catch {
      return reply.code(503).send({ status: 'unavailable' });
    }
  });
}
