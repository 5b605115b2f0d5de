/**
 * Follows the change log (SPEC §7) from the last `seq` it applied: a cheap indexed poll. Every
 * node and process runs one; it is how a delete or update made elsewhere reaches this process's
 * caches, and how a signing-key rotation reaches its keyring. Local writes call `poll()` right
 * after they commit, so they take effect here at once; a store that can push (PostgreSQL's
 * NOTIFY) calls `wake()`, and the poll stays the guarantee.
 */
import type { Clock } from '../domain/clock.js';
import { CHANGE_RETENTION_MS } from '../domain/policy.js';
import type { Store, TokenChange } from '../store/port.js';

/** How often the log is polled. The bound from a delete elsewhere to a refusal here is this plus one read. */
export const CHANGE_POLL_MS = 50;
/**
 * The poll when the store also pushes (PostgreSQL's NOTIFY wakes the follower at once): the poll is
 * then only the guarantee for a notification lost with a dropped connection, so it can be slower,
 * and N nodes put a fifth of the load on the database. Still well inside the 1 s bound (SPEC §7).
 */
export const PUSHED_CHANGE_POLL_MS = 250;
const PAGE = 1000;

export interface ChangeListener {
  /** Called once per token change (`update`, `delete`), in `seq` order. Must not throw. */
  applyChange(change: TokenChange): void;
  /** Called at start with the deletes young enough to matter (tombstones). */
  loadTombstones(deletes: readonly TokenChange[]): void;
  /**
   * Called when the follower could not read the log for so long that entries it never applied
   * may have been pruned (CHANGE_RETENTION_MS): drop everything cached; tombstones follow.
   */
  forgetAll(): void;
}

/**
 * After this long without reading the log in full, the follower starts over (`forgetAll`) before
 * it reads on: half the change log's retention, so an entry is never pruned before a follower
 * that could still apply it has either applied it or dropped what it would have invalidated.
 */
export const START_OVER_AFTER_MS = CHANGE_RETENTION_MS / 2;

/** What `/health` shows of the follower. */
export interface FollowerStatus {
  /** The highest `seq` applied. */
  readonly seq: number;
  /** How long since the log was last read in full (ms): the staleness of this process's caches. */
  readonly lagMs: number;
  /** Whether the last poll failed; the follower keeps retrying on its timer. */
  readonly failing: boolean;
}

export class ChangeFollower {
  private lastSeq = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private caughtUpAt = 0;
  private failing = false;
  private onKeys: (() => Promise<void>) | null = null;
  private onFailure: ((error: unknown) => void) | null = null;
  private onRecovery: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly listener: ChangeListener,
    private readonly tombstoneRetentionMs: number,
  ) {}

  /** The highest `seq` applied so far. */
  get seenSeq(): number {
    return this.lastSeq;
  }

  /**
   * `reload` runs when a `key` change (a rotation by any process) is read, before the follower
   * moves past it: if it fails, the change is read again on the next poll.
   */
  onKeyRotation(reload: () => Promise<void>): void {
    this.onKeys = reload;
  }

  /**
   * Timer polls that fail are reported once per failing streak (`failed`), and once when a poll
   * succeeds again (`recovered`), never silently dropped.
   */
  onHealthChange(failed: (error: unknown) => void, recovered: () => void): void {
    this.onFailure = failed;
    this.onRecovery = recovered;
  }

  /**
   * Starts from the current end of the log, after loading recent deletes. The seq is read first:
   * a delete landing in between is then both loaded and polled, never missed.
   */
  async start(pollMs = CHANGE_POLL_MS): Promise<void> {
    this.lastSeq = await this.store.latestChangeSeq();
    this.listener.loadTombstones(await this.store.recentDeletes(this.clock() - this.tombstoneRetentionMs));
    this.caughtUpAt = this.clock();
    if (pollMs > 0) {
      this.timer = setInterval(() => void this.tick(), pollMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  status(): FollowerStatus {
    return { seq: this.lastSeq, lagMs: Math.max(0, this.clock() - this.caughtUpAt), failing: this.failing };
  }

  /**
   * A hint that the log has grown (a store's notification): poll now rather than at the next
   * tick. Never rejects; a failure is reported as the timer's are.
   */
  wake(): Promise<void> {
    return this.tick();
  }

  /**
   * Applies every change past `seenSeq`. Concurrent calls share one run; a call made while a run
   * is in flight gets one more run after it, so a change committed before the call is applied
   * before its promise resolves.
   */
  poll(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async tick(): Promise<void> {
    try {
      await this.poll();
      if (this.failing) {
        this.failing = false;
        this.onRecovery?.();
      }
    } catch (error) {
      if (!this.failing) this.onFailure?.(error);
      this.failing = true;
    }
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      const started = this.clock();
      if (started - this.caughtUpAt > START_OVER_AFTER_MS) {
        this.listener.forgetAll();
        this.listener.loadTombstones(await this.store.recentDeletes(started - this.tombstoneRetentionMs));
      }
      let page: TokenChange[];
      do {
        page = await this.store.changesSince(this.lastSeq, PAGE);
        for (const change of page) {
          if (change.kind === 'key') await this.onKeys?.();
          else this.listener.applyChange(change);
          this.lastSeq = change.seq;
        }
      } while (page.length === PAGE);
      this.caughtUpAt = started;
    } while (this.again);
  }
}
