/**
 * Forward auth's fast lane: a check answered straight from Node's request, before Fastify builds
 * its request and reply, looks the route up and runs its reply pipeline. A check is the hottest
 * request tokenbox serves (every request to the operator's API makes one) and does almost no work
 * of its own when the token is cached, so that framework work was most of its cost: measured
 * through the shipped `serve`, 46 µs of server CPU per check against bare Fastify's 31
 * (docs/benchmarks.md, section 5).
 *
 * The lane changes the way in, not the answer: it calls the same check function as the Fastify
 * routes (src/http/routes/forward-auth.ts) and writes its answer as they would, byte for byte
 * but the `Date` header (test/check-lane.test.ts sends the same requests both ways and compares).
 * It takes only what it can route exactly as Fastify does:
 *
 * - `/auth/v1/check`, with or without a query (nginx and Traefik);
 * - `/auth/v1/check/…` with no `%` in the URL (Envoy). An escape is left to Fastify, whose router
 *   decodes the path and answers one that cannot be decoded itself.
 *
 * Everything else, and every request once the server is closing (Fastify answers those 503),
 * goes on to Fastify unchanged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { CHECK_PREFIX } from './original-request.js';
import { parseQuery, type QueryValues } from './query.js';
import { failedCheck, type CheckAnswer, type ForwardAuthCheck } from './routes/forward-auth.js';

const QUESTION_MARK = 0x3f;
const SLASH = 0x2f;
const NO_QUERY: QueryValues = new Map();

/** Answers the request and returns true, or returns false and leaves it untouched. */
export type Lane = (req: IncomingMessage, res: ServerResponse) => boolean;

export function checkLane(check: ForwardAuthCheck, log: () => FastifyBaseLogger): Lane {
  /** An answer that cannot be written (a header Node refuses) is a failure; one that fails too closes the socket. */
  const respond = (res: ServerResponse, answer: CheckAnswer): void => {
    try {
      write(res, answer);
    } catch (error) {
      fail(res, error);
    }
  };
  const fail = (res: ServerResponse, error: unknown): void => {
    try {
      write(res, failedCheck(error, log()));
    } catch {
      res.destroy();
    }
  };
  return (req, res) => {
    const url = req.url as string;
    if (!url.startsWith(CHECK_PREFIX)) return false;
    let query = NO_QUERY;
    if (url.length > CHECK_PREFIX.length) {
      const next = url.charCodeAt(CHECK_PREFIX.length);
      if (next === QUESTION_MARK) query = parseQuery(url.slice(CHECK_PREFIX.length + 1));
      // The auth URL's query is read only in the header styles (src/http/original-request.ts),
      // whose URL is the bare prefix: an Envoy path's query is the client's, read from the path.
      else if (next !== SLASH || url.includes('%')) return false;
    }
    let answer: CheckAnswer | Promise<CheckAnswer>;
    try {
      answer = check({ method: req.method as string, url, headers: req.headers, query });
    } catch (error) {
      fail(res, error);
      return true;
    }
    if (answer instanceof Promise)
      answer.then(
        (a) => respond(res, a),
        (error: unknown) => fail(res, error),
      );
    else respond(res, answer);
    return true;
  };
}

/**
 * As Fastify's reply writes it: the answer's headers, with `content-length` (a refusal carries
 * its own; an empty answer gets `0`, but none to HEAD, as Fastify leaves it out there).
 */
function write(res: ServerResponse, answer: CheckAnswer): void {
  if (res.headersSent) return;
  const headers = answer.headers;
  if (answer.body === '') {
    if (res.req.method !== 'HEAD') headers['content-length'] = '0';
    res.writeHead(answer.status, headers);
    res.end();
    return;
  }
  res.writeHead(answer.status, headers);
  // The head and the body in one write: `end(body)` queues the body, then an empty last chunk,
  // on a corked socket, and Node sends the pair through its slower writev path (about 7 % of a
  // refusal's instructions, docs/benchmarks.md). `write` corks until the next tick; uncorking now sends the one
  // chunk, and `end` then finds nothing left to send. (HEAD: Node drops the body, as before.)
  res.write(answer.body);
  res.socket?.uncork();
  res.end();
}
