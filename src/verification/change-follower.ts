/**
 * Follows the change log (SPEC §7) from the last `seq` it applied: a cheap indexed poll. Every
 * node and process runs one; it is how a delete or update made elsewhere reaches this process's
 * caches. Local writes call `poll()` right after they commit, so they take effect here at once.
 */
import type { Clock } from '../domain/clock.js';
import type { Store, TokenChange } from '../store/port.js';

/** How often the log is polled. The bound from a delete elsewhere to a refusal here is this plus one read. */
export const CHANGE_POLL_MS = 50;
const PAGE = 1000;

export interface ChangeListener {
  /** Called once per change, in `seq` order. Must not throw. */
  applyChange(change: TokenChange): void;
  /** Called at start with the deletes young enough to matter (tombstones). */
  loadTombstones(deletes: readonly TokenChange[]): void;
}

export class ChangeFollower {
  private lastSeq = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;

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
   * Starts from the current end of the log, after loading recent deletes. The seq is read first:
   * a delete landing in between is then both loaded and polled, never missed.
   */
  async start(pollMs = CHANGE_POLL_MS): Promise<void> {
    this.lastSeq = await this.store.latestChangeSeq();
    this.listener.loadTombstones(await this.store.recentDeletes(this.clock() - this.tombstoneRetentionMs));
    if (pollMs > 0) {
      this.timer = setInterval(() => void this.poll().catch(() => undefined), pollMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
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

  private async drain(): Promise<void> {
    do {
      this.again = false;
      let page: TokenChange[];
      do {
        page = await this.store.changesSince(this.lastSeq, PAGE);
        for (const change of page) {
          this.listener.applyChange(change);
          this.lastSeq = change.seq;
        }
      } while (page.length === PAGE);
    } while (this.again);
  }
}
