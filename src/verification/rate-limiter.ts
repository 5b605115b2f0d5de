/**
 * Fixed-window rate limiting (SPEC §3): a 60 s window per key. This in-memory limiter counts per
 * node; a Redis-backed one with the same interface counts per cluster.
 */
import type { Clock } from '../domain/clock.js';

export interface RateDecision {
  readonly allowed: boolean;
  readonly limit: number;
  /** Window length in seconds. */
  readonly interval: number;
  /** Unix seconds at which the window resets. */
  readonly reset: number;
}

export interface RateLimiter {
  /**
   * Counts one request for `key` and says whether it is within the limit. The in-memory limiter
   * answers synchronously (the verifier's hot path skips a microtask); a shared one may not.
   */
  hit(key: string, limit: number): RateDecision | Promise<RateDecision>;
  /** A shared limiter's current way of counting (shown on `/health`); a per-node one has none. */
  status?(): RateLimiterStatus;
}

/** `shared`: counted across the cluster; `local`: this node limits alone (its Redis is unreachable). */
export interface RateLimiterStatus {
  readonly mode: 'shared' | 'local';
}

/** The window every limit counts in (SPEC §3, §7). */
export const WINDOW_S = 60;

/** The start (Unix seconds) of the window holding now: every limiter shares this grid. */
export function windowStartS(clock: Clock): number {
  const nowS = Math.floor(clock() / 1000);
  return nowS - (nowS % WINDOW_S);
}

export class MemoryRateLimiter implements RateLimiter {
  private windowStart = 0;
  private counts = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  hit(key: string, limit: number): RateDecision {
    const start = windowStartS(this.clock);
    if (start !== this.windowStart) {
      // Every key shares the window grid, so rolling over drops all old counts at once.
      this.windowStart = start;
      this.counts = new Map();
    }
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    return { allowed: count <= limit, limit, interval: WINDOW_S, reset: start + WINDOW_S };
  }
}
