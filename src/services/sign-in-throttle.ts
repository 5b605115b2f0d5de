/**
 * Sign-in throttling (SPEC §9): after 5 failures within 15 minutes under one key (a username, or
 * a client address) that key must wait, 1 s after the 5th failure and twice as long after each
 * further one, never more than 15 minutes. Attempts refused while waiting are not verified and
 * not counted, and failures older than the window are forgotten, so an owner whose account is
 * under attack can always try again within 15 minutes: no lockout is permanent.
 *
 * Per process (like the API's rate limits without Redis). Memory is bounded: at most
 * `maxKeys` keys are tracked, the least recently failed forgotten first.
 */
import type { Clock } from '../domain/clock.js';

export const THROTTLE_FREE_FAILURES = 5;
export const THROTTLE_WINDOW_MS = 15 * 60_000;
const FIRST_WAIT_MS = 1_000;
const MAX_WAIT_MS = 15 * 60_000;

interface KeyState {
  /** Failure times within the window, oldest first. */
  failures: number[];
  lockedUntil: number;
}

export class SignInThrottle {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly clock: Clock,
    private readonly maxKeys = 100_000,
  ) {}

  /** How long (ms) a sign-in under any of `keys` must still wait; 0 when it may go ahead. */
  waitMs(keys: readonly string[]): number {
    const now = this.clock();
    let wait = 0;
    for (const key of keys) wait = Math.max(wait, (this.keys.get(key)?.lockedUntil ?? 0) - now);
    return wait;
  }

  recordFailure(keys: readonly string[]): void {
    const now = this.clock();
    for (const key of keys) {
      const state = this.keys.get(key) ?? { failures: [], lockedUntil: 0 };
      state.failures = state.failures.filter((at) => at > now - THROTTLE_WINDOW_MS);
      state.failures.push(now);
      const over = state.failures.length - THROTTLE_FREE_FAILURES;
      if (over >= 0) state.lockedUntil = now + Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.min(over, 20));
      // Re-inserted, so the Map's order is least recently failed first.
      this.keys.delete(key);
      this.keys.set(key, state);
    }
    while (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value as string);
  }

  /** A success clears the key's failures (the username's: an address keeps its record). */
  clear(key: string): void {
    this.keys.delete(key);
  }
}
