/**
 * Writes the usage counter's counts to the store (SPEC §5): at most one write per token per
 * flush, never on a request's path. `start` flushes every `intervalMs` on an unref'd timer (it
 * never keeps a process alive); `flush` is also called once more on shutdown, before the store
 * closes.
 *
 * A flush that fails gives its counts back to the counter, so the next flush writes them together
 * with newer ones: no counted request is lost, and none is written twice (a failed write has
 * written nothing: `addUsage` is one transaction). Flushes never overlap: a flush asked for while
 * one runs waits for it, then runs.
 */
import type { Store, UsageIncrement } from '../store/port.js';
import type { UsageCounter } from './usage-counter.js';

/**
 * Rows per store transaction. Thousands of active tokens are written in several transactions,
 * each short, so a flush never holds the event loop (SQLite writes synchronously) or the write
 * lock for long; each token still gets at most one row per day per flush.
 */
export const USAGE_CHUNK_ROWS = 500;

export interface FlushHealth {
  /** The first failure of a streak (later failures of the same streak are not reported). */
  onFailure(error: unknown): void;
  /** The first success after a streak of failures. */
  onRecovery(): void;
}

/** What the flusher has done since start (for metrics). */
export interface FlushStats {
  /** Store writes (one transaction each) that succeeded. */
  writes: number;
  /** Rows (token × day) those writes added. */
  rows: number;
  /** Writes that failed (their rows were kept for the next flush). */
  failures: number;
}

export class UsageFlusher {
  readonly stats: FlushStats = { writes: 0, rows: 0, failures: 0 };
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<boolean> | null = null;
  private failing = false;
  private health: FlushHealth | null = null;

  constructor(
    private readonly counter: UsageCounter,
    private readonly store: Pick<Store, 'addUsage'>,
  ) {}

  /** Reports the first failure of each streak and the recovery after it (serve logs them). */
  onHealthChange(onFailure: FlushHealth['onFailure'], onRecovery: FlushHealth['onRecovery']): void {
    this.health = { onFailure, onRecovery };
  }

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Writes everything counted so far. Never rejects: resolves true when all of it was written,
   * false when some was given back to the counter for the next flush.
   */
  async flush(): Promise<boolean> {
    while (this.running !== null) await this.running;
    if (this.counter.isEmpty) return true;
    this.running = this.write(this.counter.take());
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  private async write(rows: readonly UsageIncrement[]): Promise<boolean> {
    for (let start = 0; start < rows.length; start += USAGE_CHUNK_ROWS) {
      const chunk = rows.slice(start, start + USAGE_CHUNK_ROWS);
      try {
        await this.store.addUsage(chunk);
        this.stats.writes++;
        this.stats.rows += chunk.length;
      } catch (error) {
        this.stats.failures++;
        // This chunk wrote nothing (one transaction); it and the rest wait for the next flush.
        this.counter.giveBack(rows.slice(start));
        if (!this.failing) {
          this.failing = true;
          this.report(() => this.health?.onFailure(error));
        }
        return false;
      }
    }
    if (this.failing) {
      this.failing = false;
      this.report(() => this.health?.onRecovery());
    }
    return true;
  }

  /** A listener that throws (a broken log stream) must not make a flush reject: it runs on a timer. */
  private report(call: () => void): void {
    try {
      call();
    } catch {
      // Reporting is best effort; the counts are already kept or written.
    }
  }
}
