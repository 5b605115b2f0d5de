/**
 * `GET /health`: 200 `{"status":"ok"}` while the store answers and the change log is followed,
 * else 503 `{"status":"unavailable"}` (SPEC §3), with the follower's position and lag either way
 * (`changes.seq`, `changes.lagMs`): a node that cannot follow the log cannot honour revocations
 * made elsewhere, so a load balancer should take it out. Exempt from rate limits.
 */
import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from '../context.js';

export function healthRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/health', async (_request, reply) => {
    const { seq, lagMs, failing } = deps.changes.status();
    const changes = { seq, lagMs, failing };
    try {
      await deps.store.ping();
    } catch {
      return reply.code(503).send({ status: 'unavailable', changes });
    }
    return failing ? reply.code(503).send({ status: 'unavailable', changes }) : { status: 'ok', changes };
  });
}
