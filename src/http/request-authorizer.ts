/**
 * The one way a request's token is found and judged (SPEC §3, §5): the Tokens API's auth hook,
 * forward auth, and later the gateway and the page all read the presented token here, and the
 * resource-facing ways in (forward auth, the gateway) judge it with `authorizeResource`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { FORBIDDEN, INVALID_TOKEN, NO_TOKEN, type Verdict, type Verifier, type VerifyRequest } from '../verification/verifier.js';
import type { QueryValues } from './query.js';

/** What a request presents: nothing, something that cannot be a token, or one token string. */
export type PresentedToken = { readonly kind: 'none' } | { readonly kind: 'malformed' } | { readonly kind: 'token'; readonly raw: string };

const NONE: PresentedToken = Object.freeze({ kind: 'none' });
const MALFORMED: PresentedToken = Object.freeze({ kind: 'malformed' });
const BEARER = /^bearer /i;

/**
 * The token from `Authorization: Bearer` (it wins when both are present), else the one
 * `access_token` parameter of `query` (the request's own, or the original URI's for forward
 * auth). An empty Bearer value or a repeated parameter is malformed, even with equal copies.
 */
export function presentedToken(authorization: string | undefined, query: QueryValues): PresentedToken {
  if (authorization !== undefined && BEARER.test(authorization)) {
    const raw = authorization.slice(7).trim();
    return raw.length > 0 ? { kind: 'token', raw } : MALFORMED;
  }
  const values = query.get('access_token');
  if (values === undefined) return NONE;
  return values.length === 1 ? { kind: 'token', raw: values[0] as string } : MALFORMED;
}

/** A request to one of the operator's resources, as a proxy (or the gateway) describes it. */
export interface ResourceRequest {
  readonly headers: IncomingHttpHeaders;
  /** The original request's query (where its `access_token` is). */
  readonly query: QueryValues;
  /** The scope the route needs; null when neither the proxy nor a route rule names one. */
  readonly scope: string | null;
}

/**
 * The verdict for a resource request (SPEC §5): no token, invalid, restriction, scope, rate
 * limit, in that order; and a verified token on a request no rule gives a scope is refused 403
 * (fail closed). Synchronous for a cached token, so the hot path makes no promise.
 */
export function authorizeResource(verifier: Verifier, request: ResourceRequest): Verdict | Promise<Verdict> {
  const presented = presentedToken(request.headers.authorization, request.query);
  if (presented.kind === 'none') return NO_TOKEN;
  if (presented.kind === 'malformed') return INVALID_TOKEN;
  const verdict = verifier.check(presented.raw, verifyRequest(request));
  return verdict instanceof Promise ? verdict.then((v) => failClosed(v, request.scope)) : failClosed(verdict, request.scope);
}

function failClosed(verdict: Verdict, scope: string | null): Verdict {
  return verdict.ok && scope === null ? FORBIDDEN : verdict;
}

function verifyRequest({ headers, scope }: ResourceRequest): VerifyRequest {
  const { referer, origin } = headers;
  const appId = headers['x-tokenbox-app-id'];
  const out: { -readonly [K in keyof VerifyRequest]: VerifyRequest[K] } = {};
  if (scope !== null) out.scope = scope;
  if (typeof referer === 'string') out.referrer = referer;
  if (typeof origin === 'string') out.origin = origin;
  if (typeof appId === 'string') out.appId = appId;
  return out;
}
