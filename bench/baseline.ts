/**
 * The yardstick for retrieve: a bare Fastify instance (logger off, default options) on its own
 * port in the same process as tokenbox, with one route that answers a fixed JSON body of the
 * same size as tokenbox's retrieve answer. Same path and query string as the real request, so
 * routing and query parsing are paid by both. With `headers`, the route also sends those fixed
 * headers (a diagnostic: what tokenbox's wire-required headers cost on their own).
 */
import Fastify from 'fastify';

export interface RunningServer {
  readonly origin: string;
  close(): Promise<void>;
}

export async function startBaseline(body: unknown, headers?: Record<string, string>): Promise<RunningServer> {
  const app = Fastify({ logger: false });
  if (headers === undefined) {
    app.get('/tokens/v2', async () => body);
  } else {
    app.get('/tokens/v2', async (_request, reply) => {
      reply.headers(headers);
      return body;
    });
  }
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { origin: address, close: () => app.close() };
}
