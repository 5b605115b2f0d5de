/**
 * `GET /health`: 200 `{"status":"ok"}` while the store answers and the change log is followed,
 * else 503 `{"status":"unavailable"}` (SPEC §3), with the follower's position and lag either way
 * (`changes.seq`, `changes.lagMs`): a node that cannot follow the log cannot honour revocations
 * made elsewhere, so a load balancer should take it out. Exempt from rate limits.
 *
 * With Redis, `rateLimits.mode` says how limits are counted. `local` (Redis unreachable, each node
 * limits alone) is degraded, not down: every node shares that Redis, so taking the node out for it
 * would take them all out.
 */
import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from '../context.js';

export function healthRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/health', async (_request, reply) => {
    const { seq, lagMs, failing } = deps.changes.status();
    const rateLimits = deps.limiter.status?.();
    const detail = { changes: { seq, lagMs, failing }, ...(rateLimits && { rateLimits }) };
    try {
      await deps.store.ping();
    } catch {
      return reply.code(503).send({ status: 'unavailable', ...detail });
    }
    return failing ? reply.code(503).send({ status: 'unavailable', ...detail }) : { status: 'ok', ...detail };
  });
}
