/** The `Link: <…>; rel="next"` of a keyset list (SPEC §4.2), for every list tokenbox serves. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpDeps } from './context.js';
import { formatQuery } from './query.js';

/**
 * Sets `Link` to the next page's URL: `params` (the list parameters the request gave, in order,
 * `start` left out) repeated, then `start=<next>`; never `access_token`. On `publicUrl` when set,
 * else the request's own host (proxy headers only with `trustProxy`), so a `Link` never points a
 * client, and its credentials, at a foreign host.
 */
export function setNextLink(
  deps: HttpDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  params: ReadonlyArray<readonly [string, string]>,
  next: string,
): void {
  const base = deps.config.publicUrl?.replace(/\/+$/, '') ?? `${request.protocol}://${request.host}`;
  const path = request.url.split('?', 1)[0] as string;
  const query = formatQuery([...params.filter(([name]) => name !== 'start'), ['start', next]]);
  reply.header('Link', `<${base}${path}?${query}>; rel="next"`);
}
