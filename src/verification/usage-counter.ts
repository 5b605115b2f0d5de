/**
 * Usage counting on the hot path (SPEC §5): every verified request adds one to its token's
 * count for the current UTC day and moves its `lastUsed`, in memory. A flush (usage-flusher.ts)
 * takes the counts and writes them to the store in a batch.
 *
 * Cost per request: one Map lookup and two field writes on a mutable tally; no store write, no
 * promise, no allocation except a token's first request after a flush or after UTC midnight (one
 * small object). Single-threaded JS makes `count` and `take` atomic with respect to each other.
 */
import { DAY_MS, type UsageIncrement } from '../store/port.js';

/** Where verified requests are counted (the verifier's view of the counter). */
export interface UsageSink {
  /** One verified request of `tokenId` (a pk/sk id; a tk's `p`) at `now` (Unix ms). */
  count(tokenId: string, now: number): void;
}

interface Tally {
  readonly tokenId: string;
  /** The UTC day's start, Unix ms. */
  readonly day: number;
  count: number;
  lastUsed: number;
}

export class UsageCounter implements UsageSink {
  /** The latest day's tally of every token counted since the last `take`. */
  private tallies = new Map<string, Tally>();
  /** Tallies of earlier days (a token counted across UTC midnight) and counts given back. */
  private carried: UsageIncrement[] = [];

  count(tokenId: string, now: number): void {
    const day = now - (now % DAY_MS);
    const tally = this.tallies.get(tokenId);
    if (tally !== undefined && tally.day === day) {
      tally.count++;
      if (now > tally.lastUsed) tally.lastUsed = now;
      return;
    }
    // A token's first request since the last take, or on another UTC day than its tally.
    if (tally !== undefined) this.carried.push(toIncrement(tally));
    this.tallies.set(tokenId, { tokenId, day, count: 1, lastUsed: now });
  }

  /**
   * Everything counted since the last `take`, one row per token and day, and forgets it: the
   * caller now owns these counts (it gives them back with `giveBack` if it cannot write them).
   */
  take(): UsageIncrement[] {
    const carried = this.carried;
    const tallies = this.tallies;
    if (carried.length === 0 && tallies.size === 0) return [];
    this.carried = [];
    this.tallies = new Map();
    return merge([...carried, ...[...tallies.values()].map(toIncrement)]);
  }

  /** Counts a flush could not write: they are taken again, added to newer ones, by the next `take`. */
  giveBack(rows: readonly UsageIncrement[]): void {
    for (const row of rows) this.carried.push(row);
  }

  /** Whether anything waits to be taken. */
  get isEmpty(): boolean {
    return this.tallies.size === 0 && this.carried.length === 0;
  }
}

function toIncrement(tally: Tally): UsageIncrement {
  return { tokenId: tally.tokenId, day: tally.day, count: tally.count, lastUsed: tally.lastUsed };
}

/** Rows for the same token and day added into one (counts summed, the latest lastUsed). */
function merge(rows: readonly UsageIncrement[]): UsageIncrement[] {
  const byKey = new Map<string, UsageIncrement>();
  for (const row of rows) {
    const key = `${row.day}:${row.tokenId}`;
    const seen = byKey.get(key);
    byKey.set(key, seen === undefined ? row : { ...seen, count: seen.count + row.count, lastUsed: Math.max(seen.lastUsed, row.lastUsed) });
  }
  return [...byKey.values()];
}
