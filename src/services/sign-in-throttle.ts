/**
 * Sign-in throttling (SPEC §9): after 5 attempts that did not succeed within 15 minutes under
 * one key (a username, or a client address) that key must wait, 1 s after the 5th and twice as
 * long after each further one, never more than 15 minutes. Attempts refused while waiting are
 * not verified and not counted, and attempts older than the window are forgotten, so an owner
 * whose account is under attack can always try again within 15 minutes: no lockout is permanent.
 *
 * An attempt counts from the moment it starts, not when its password check fails: a burst of
 * concurrent guesses gets 5 checks, not as many as it sends (each check is ~40 ms of argon2id on
 * the shared thread pool). A success takes its own attempt back and clears the username's record.
 *
 * Per process (like the API's rate limits without Redis). Memory is bounded: at most `maxKeys`
 * keys are tracked, the least recently attempted forgotten first.
 */
import type { Clock } from '../domain/clock.js';

export const THROTTLE_FREE_ATTEMPTS = 5;
export const THROTTLE_WINDOW_MS = 15 * 60_000;
const FIRST_WAIT_MS = 1_000;
const MAX_WAIT_MS = 15 * 60_000;

interface KeyState {
  /** Attempt times within the window, oldest first. */
  attempts: number[];
  lockedUntil: number;
}

/** A started attempt: what `succeeded` needs to take it back. */
export interface Attempt {
  readonly keys: readonly string[];
  readonly at: number;
}

export class SignInThrottle {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly clock: Clock,
    private readonly maxKeys = 100_000,
  ) {}

  /**
   * Starts an attempt under `keys` (the username's first): counted at once. Returns how long
   * (ms) the caller must still wait instead, counting nothing, when any key is waiting.
   */
  begin(keys: readonly string[]): { readonly waitMs: number } | { readonly attempt: Attempt } {
    const now = this.clock();
    let waitMs = 0;
    for (const key of keys) waitMs = Math.max(waitMs, (this.keys.get(key)?.lockedUntil ?? 0) - now);
    if (waitMs > 0) return { waitMs };
    for (const key of keys) {
      const state = this.keys.get(key) ?? { attempts: [], lockedUntil: 0 };
      state.attempts = state.attempts.filter((at) => at > now - THROTTLE_WINDOW_MS);
      state.attempts.push(now);
      const over = state.attempts.length - THROTTLE_FREE_ATTEMPTS;
      if (over >= 0) state.lockedUntil = now + Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.min(over, 20));
      // Re-inserted, so the Map's order is least recently attempted first.
      this.keys.delete(key);
      this.keys.set(key, state);
    }
    while (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value as string);
    return { attempt: { keys, at: now } };
  }

  /** The attempt succeeded: the username's record is cleared; the other keys take it back. */
  succeeded(attempt: Attempt): void {
    const [username, ...others] = attempt.keys;
    if (username !== undefined) this.keys.delete(username);
    for (const key of others) {
      const state = this.keys.get(key);
      if (state === undefined) continue;
      const index = state.attempts.lastIndexOf(attempt.at);
      if (index !== -1) state.attempts.splice(index, 1);
      if (state.attempts.length < THROTTLE_FREE_ATTEMPTS) state.lockedUntil = 0;
    }
  }
}
