/**
 * The verifier (SPEC §5, way in 1): token + the request's scope, referrer, origin and app id →
 * a verdict. Never throws for a bad token. Verdicts come in the SPEC's order: no token, invalid
 * token, restriction not met, scope missing, rate limited (counted only after verification, per
 * root token, so forged strings cannot spend a real token's budget).
 *
 * Every accepted verdict, and only those, is counted as usage (SPEC §5) here, where every way in
 * (the library, forward auth, the gateway) passes: one in-memory tally update, no I/O.
 */
import type { Clock } from '../domain/clock.js';
import { CATALOGUE } from '../domain/errors.js';
import type { Usage } from '../domain/token-format.js';
import { isAppAllowed, isUrlAllowed } from '../domain/url-rules.js';
import type { RateDecision, RateLimiter } from './rate-limiter.js';
import type { Authenticator, AuthOutcome } from './authenticator.js';
import type { UsageSink } from './usage-counter.js';

export type VerdictCode = 'no_token' | 'invalid_token' | 'forbidden' | 'missing_scope' | 'rate_limited';

export type Verdict =
  | {
      readonly ok: true;
      readonly user: string;
      /** The token's id; for a tk, its root `p`. */
      readonly tokenId: string;
      readonly usage: Usage;
      readonly scopes: readonly string[];
    }
  | {
      readonly ok: false;
      readonly code: VerdictCode;
      readonly status: number;
      readonly message: string;
      /** Seconds until the window resets, on `rate_limited`. */
      readonly retryAfter?: number;
    };

export type Refusal = Extract<Verdict, { ok: false }>;
type Accepted = Extract<Verdict, { ok: true }>;

export interface VerifyRequest {
  /** The scope the endpoint requires; none: any verified token passes the scope check. */
  readonly scope?: string;
  readonly referrer?: string;
  readonly origin?: string;
  /** `X-Tokenbox-App-Id`. */
  readonly appId?: string;
}

function refusal(code: Exclude<VerdictCode, 'missing_scope'>): Refusal {
  return Object.freeze({ ok: false, code, status: CATALOGUE[code].status, message: CATALOGUE[code].message });
}

export const NO_TOKEN = refusal('no_token');
export const INVALID_TOKEN = refusal('invalid_token');
export const FORBIDDEN = refusal('forbidden');

export class Verifier {
  /** Verdicts for missing scopes, one per scope id (the set of scopes is small and fixed). */
  private readonly missingScope = new Map<string, Refusal>();

  constructor(
    private readonly authenticator: Authenticator,
    private readonly limiter: RateLimiter,
    /** Verified requests per token per window; undefined: no ceiling (the default). */
    private readonly tokenRateLimit: number | undefined,
    private readonly clock: Clock,
    /** Counts each accepted verdict toward its root token (a tk's `p`). */
    private readonly usage: UsageSink,
  ) {}

  async verify(token: unknown, request: VerifyRequest = {}): Promise<Verdict> {
    return this.check(token, request);
  }

  /**
   * `verify` without the promise when none is needed: a cached pk/sk or any tk is judged
   * synchronously (the hot path of forward auth skips a microtask); a store read or a shared
   * rate limiter makes it a promise.
   */
  check(token: unknown, request: VerifyRequest = {}): Verdict | Promise<Verdict> {
    if (token === undefined || token === null || token === '') return NO_TOKEN;
    // Callers without types (a parsed query object, a number) get a refusal, never an exception.
    if (typeof token !== 'string') return INVALID_TOKEN;
    const quick = this.authenticator.tryCached(token);
    if (quick === undefined) return this.authenticator.authenticate(token).then((outcome) => this.finish(outcome, request));
    return this.finish(quick, request);
  }

  private finish(outcome: AuthOutcome, request: VerifyRequest): Verdict | Promise<Verdict> {
    const verdict = this.judge(outcome, request);
    if (!verdict.ok) return verdict;
    if (this.tokenRateLimit === undefined) return this.counted(verdict);
    const decision = this.limiter.hit(`token:${verdict.tokenId}`, this.tokenRateLimit);
    if (decision instanceof Promise) return decision.then((d) => (d.allowed ? this.counted(verdict) : this.rateLimited(d)));
    return decision.allowed ? this.counted(verdict) : this.rateLimited(decision);
  }

  /** A refusal (the rate limit's included) never counts; an accepted verdict counts once. */
  private counted(verdict: Accepted): Accepted {
    this.usage.count(verdict.tokenId, this.clock());
    return verdict;
  }

  private judge(outcome: AuthOutcome, request: VerifyRequest): Accepted | Refusal {
    if (!outcome.ok) return INVALID_TOKEN;
    const { principal: p, restrictions: r } = outcome;
    if (r !== null) {
      // With both kinds set, a request passes if either matches.
      const byUrl = r.urls !== null && isUrlAllowed(r.urls, request.referrer || request.origin);
      const byApp = !byUrl && r.apps !== null && isAppAllowed(r.apps, request.appId);
      if (!byUrl && !byApp) return FORBIDDEN;
    }
    if (request.scope !== undefined && !p.scopes.includes(request.scope)) return this.missing(request.scope);
    return { ok: true, user: p.username, tokenId: p.rootId, usage: p.usage, scopes: p.scopes };
  }

  private missing(scope: string): Refusal {
    let verdict = this.missingScope.get(scope);
    if (verdict === undefined) {
      verdict = Object.freeze({
        ok: false,
        code: 'missing_scope',
        status: CATALOGUE.missing_scope.status,
        message: `This endpoint requires a token with ${scope} scope`,
      });
      if (this.missingScope.size < 1000) this.missingScope.set(scope, verdict);
    }
    return verdict;
  }

  private rateLimited(decision: RateDecision): Verdict {
    const retryAfter = Math.max(1, decision.reset - Math.floor(this.clock() / 1000));
    return { ok: false, code: 'rate_limited', status: CATALOGUE.rate_limited.status, message: CATALOGUE.rate_limited.message, retryAfter };
  }
}
