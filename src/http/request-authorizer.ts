/**
 * The one way a request's token is found and judged (SPEC §3, §5): the Tokens API's auth hook,
 * forward auth, and later the gateway and the page all read the presented token here, and the
 * resource-facing ways in (forward auth, the gateway) judge it with `authorizeResource`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../domain/clock.js';
import { CATALOGUE } from '../domain/errors.js';
import type { CompiledRoute } from '../domain/route-rules.js';
import { WINDOW_S, type RateDecision, type RateLimiter } from '../verification/rate-limiter.js';
import { FORBIDDEN, INVALID_TOKEN, NO_TOKEN, type Refusal, type Verdict, type Verifier, type VerifyRequest } from '../verification/verifier.js';
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
  /** The route rule the request matched, if any: its `rateLimit` applies. */
  readonly route: CompiledRoute | null;
}

/** What judges a resource request: the verifier, and the limiter and clock for route limits. */
export interface ResourceJudge {
  readonly verifier: Verifier;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
  /** The verifier's per-token ceiling (config `tokenRateLimit`), to describe its 429s. */
  readonly tokenRateLimit: number | undefined;
}

/** A 429, with the limit that refused it (for `X-Rate-Limit-*`, SPEC §7). */
export interface RateLimited extends Refusal {
  readonly code: 'rate_limited';
  readonly retryAfter: number;
  readonly window: { readonly limit: number; readonly interval: number; readonly reset: number };
}

export type ResourceVerdict = Verdict | RateLimited;

/**
 * The verdict for a resource request (SPEC §5): no token, invalid, restriction, scope, rate
 * limit, in that order; and a verified token on a request no rule gives a scope is refused 403
 * (fail closed). Synchronous for a cached token, so the hot path makes no promise.
 *
 * Limits are counted only for a verified token, so no refusal (and no forged token naming
 * someone's id) spends an allowance: first the per-token ceiling (`tokenRateLimit`, in the
 * verifier), then the matched rule's `rateLimit` per account (bucket `route:<rule>:<user>`). A
 * request the ceiling refuses is not counted on the route; a 429 describes the limit that refused.
 */
export function authorizeResource(judge: ResourceJudge, request: ResourceRequest): ResourceVerdict | Promise<ResourceVerdict> {
  const presented = presentedToken(request.headers.authorization, request.query);
  if (presented.kind === 'none') return NO_TOKEN;
  if (presented.kind === 'malformed') return INVALID_TOKEN;
  const verdict = judge.verifier.check(presented.raw, verifyRequest(request));
  return verdict instanceof Promise ? verdict.then((v) => afterVerification(judge, v, request)) : afterVerification(judge, verdict, request);
}

function afterVerification(judge: ResourceJudge, verdict: Verdict, request: ResourceRequest): ResourceVerdict | Promise<ResourceVerdict> {
  if (!verdict.ok) return verdict.code === 'rate_limited' ? tokenLimited(judge, verdict) : verdict;
  if (request.scope === null) return FORBIDDEN;
  const limit = request.route?.rule.rateLimit;
  if (limit === undefined) return verdict;
  const decision = judge.limiter.hit(`route:${(request.route as CompiledRoute).index}:${verdict.user}`, limit);
  if (decision instanceof Promise) return decision.then((d) => (d.allowed ? verdict : routeLimited(judge, d)));
  return decision.allowed ? verdict : routeLimited(judge, decision);
}

function routeLimited(judge: ResourceJudge, decision: RateDecision): RateLimited {
  const retryAfter = Math.max(1, decision.reset - Math.floor(judge.clock() / 1000));
  const { status, message } = CATALOGUE.rate_limited;
  return {
    ok: false,
    code: 'rate_limited',
    status,
    message,
    retryAfter,
    window: { limit: decision.limit, interval: decision.interval, reset: decision.reset },
  };
}

/** The verifier's 429 (the per-token ceiling), described: its window ends `retryAfter` from now. */
function tokenLimited(judge: ResourceJudge, verdict: Refusal): RateLimited {
  const retryAfter = verdict.retryAfter ?? 1;
  const reset = Math.floor(judge.clock() / 1000) + retryAfter;
  return { ...verdict, code: 'rate_limited', retryAfter, window: { limit: judge.tokenRateLimit ?? 0, interval: WINDOW_S, reset } };
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** `Retry-After` and `X-Rate-Limit-*` of a refusal that has them (a 429); none otherwise. */
export function refusalRateHeaders(verdict: Refusal): Readonly<Record<string, string>> {
  if (verdict.retryAfter === undefined) return NO_HEADERS;
  const { window } = verdict as Partial<RateLimited>;
  const retryAfter = String(verdict.retryAfter);
  if (window === undefined) return { 'retry-after': retryAfter };
  return {
    'retry-after': retryAfter,
    'x-rate-limit-interval': String(window.interval),
    'x-rate-limit-limit': String(window.limit),
    'x-rate-limit-reset': String(window.reset),
  };
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
