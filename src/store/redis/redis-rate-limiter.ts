/**
 * Cluster-wide rate limits (SPEC §7: "counted in Redis (an atomic script) when `redisUrl` is
 * set"), with the in-memory limiter's fixed 60 s windows on the shared grid.
 *
 * No Redis round trip happens inside a verification: `hit` answers synchronously from what this
 * node knows of a key in the current window, `settled` (the cluster-wide count Redis last returned)
 * plus `pending` (hits counted here and not yet acknowledged by Redis), and allows while that sum is
 * within the limit. Every `settleMs` (only while something is pending) one Lua script call sends
 * every pending increment of the window at once (`INCRBY` and `PEXPIRE` per key, atomically) and
 * gets the new totals back; hits counted during that round trip stay pending for the next one.
 *
 * Overshoot, by design: a node does not see other nodes' hits until its next settle, so for one
 * key it can allow at most what it receives during one settle interval plus one round trip beyond
 * the limit; with N nodes, at most N times that. (Every hit is counted, allowed or not, as the
 * in-memory limiter does, so a client that keeps knocking stays refused.)
 *
 * Redis unreachable: nothing throws and no request fails. Each node limits alone, going on from
 * the last cluster-wide count it saw for a key and adding its own hits; `report('local', error)`
 * is called once when that starts and `report('shared')` once when a settle succeeds again. The
 * client reconnects by itself (backoff capped at 1 s), and the hits counted meanwhile are sent on
 * the first settle after it is back, so the cluster's counts include them. A reply lost with the
 * connection leaves its batch pending, so it may be counted twice: the error errs toward refusing.
 *
 * Keys: `<prefix><windowStart>:<key>` (windowStart in unix seconds; prefix `tokenbox:rl:`), each
 * expiring a little after its window ends. One Redis (or a primary), not Redis Cluster: a batch
 * touches many keys in one script.
 */
import { Redis } from 'ioredis';
import type { Clock } from '../../domain/clock.js';
import { WINDOW_S, windowStartS, type RateDecision, type RateLimiter, type RateLimiterStatus } from '../../verification/rate-limiter.js';

export type RateLimitMode = RateLimiterStatus['mode'];

export interface RedisRateLimiterOptions {
  /** `redis://` or `rediss://` URL (config `redisUrl`). */
  readonly url: string;
  readonly clock: Clock;
  /** Told once when limits go local (Redis unreachable) and once when they are shared again. */
  readonly report: (event: RateLimitMode, error?: unknown) => void;
  /** Namespace of the counters; tests give each run its own. */
  readonly prefix?: string;
  /** How long pending hits wait before they are sent (ms). */
  readonly settleMs?: number;
}

export const DEFAULT_PREFIX = 'tokenbox:rl:';
export const DEFAULT_SETTLE_MS = 50;
/** How long a counter outlives its window: a node whose clock lags still adds to a live key. */
export const EXPIRY_GRACE_MS = 10_000;
/** The longest wait between reconnect attempts, and between settle attempts while local. */
const RETRY_CAP_MS = 1_000;
/** A settle that gets no reply in this time fails (a black-holed connection is an outage too). */
const COMMAND_TIMEOUT_MS = 1_000;

/**
 * KEYS: the window's counters. ARGV[1]: their time to live (ms); ARGV[i + 1]: KEYS[i]'s increment.
 * Returns the new totals, in KEYS order. Atomic, so no node reads a half-applied batch.
 */
const SETTLE_LUA = `
local totals = {}
for i, key in ipairs(KEYS) do
  totals[i] = redis.call('INCRBY', key, ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
end
return totals`;

/** The client with the script defined on it (`defineCommand` adds the method at run time). */
interface SettleClient {
  tokenboxRateSettle(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
}

/** One key's count in the current window, as this node knows it. */
interface Count {
  /** The cluster-wide total Redis returned on the last settle. */
  settled: number;
  /** Hits counted here that Redis has not acknowledged (in flight included). */
  pending: number;
}

export class RedisRateLimiter implements RateLimiter {
  private readonly client: Redis;
  private readonly clock: Clock;
  private readonly report: RedisRateLimiterOptions['report'];
  private readonly prefix: string;
  private readonly settleMs: number;
  private mode: RateLimitMode = 'shared';
  private windowStart = 0;
  private counts = new Map<string, Count>();
  /** Keys with hits not yet in a batch sent to Redis. */
  private unsent = new Map<string, Count>();
  private timer: NodeJS.Timeout | null = null;
  /** The running settle; settles never overlap, so a batch's counts are never sent twice at once. */
  private settling: Promise<void> = Promise.resolve();
  private closed = false;
  /** The connection's last error, until it is ready again. */
  private connectionError: Error | undefined;

  constructor(options: RedisRateLimiterOptions) {
    this.clock = options.clock;
    this.report = options.report;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    this.client = new Redis(options.url, {
      // A command while disconnected fails at once instead of waiting in a queue: the limiter
      // keeps its hits pending and counts locally meanwhile.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 100, RETRY_CAP_MS),
      connectTimeout: COMMAND_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
    });
    this.client.defineCommand('tokenboxRateSettle', { lua: SETTLE_LUA });
    // Errors reach the limiter through failed settles and the close event, which reports the
    // socket's own error (ECONNREFUSED…) when there was one. Without a listener ioredis would
    // print each reconnect attempt's error.
    this.client.on('error', (error: Error) => (this.connectionError = error));
    this.client.on('close', () => this.goLocal(this.connectionError ?? new Error('the connection to Redis closed')));
    // Back (or connected for the first time): send what is pending, which proves the script runs,
    // and read back every key this node knows, so it stops relying on counts from before.
    this.client.on('ready', () => {
      this.connectionError = undefined;
      void this.settle({ everyKey: true });
    });
  }

  hit(key: string, limit: number): RateDecision {
    const start = windowStartS(this.clock);
    if (start !== this.windowStart) {
      // Every key shares the window grid, so rolling over drops all old counts at once; an old
      // window's unsent hits no longer matter.
      this.windowStart = start;
      this.counts = new Map();
      this.unsent = new Map();
    }
    let count = this.counts.get(key);
    if (count === undefined) {
      count = { settled: 0, pending: 0 };
      this.counts.set(key, count);
    }
    count.pending++;
    this.unsent.set(key, count);
    this.schedule();
    return { allowed: count.settled + count.pending <= limit, limit, interval: WINDOW_S, reset: start + WINDOW_S };
  }

  /** `shared` while counts reach Redis; `local` while this node limits alone. */
  status(): RateLimiterStatus {
    return { mode: this.mode };
  }

  /**
   * Sends every pending hit now (after the running settle, if any). Never rejects: a failure is a
   * mode change. Resolves once this node's counts are in Redis, or have failed to get there.
   *
   * With `everyKey`, it also reads back the cluster-wide total of every key this node has counted
   * in the window (an increment of 0), so its next decisions see every hit other nodes have
   * settled. Done after each reconnect and by tests; on the timer it would send every active key
   * every 50 ms, where the pending ones are enough for the overshoot bound above.
   */
  settle(options: { readonly everyKey?: boolean } = {}): Promise<void> {
    this.settling = this.settling.then(() => this.send(options.everyKey === true));
    return this.settling;
  }

  /** Stops the timer, sends what is pending if Redis is there, and quits the client. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    if (this.client.status === 'ready') await this.settle();
    else await this.settling;
    try {
      if (this.client.status === 'ready') await this.client.quit();
    } catch {
      // A connection that fails while quitting is closed all the same below.
    }
    this.client.disconnect();
  }

  private schedule(): void {
    if (this.timer !== null || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.settle();
    }, this.delay());
    // A limiter never keeps a process alive.
    this.timer.unref();
  }

  /** While local, settles are attempts to get back, at most once per RETRY_CAP_MS. */
  private delay(): number {
    return this.mode === 'shared' ? this.settleMs : RETRY_CAP_MS;
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async send(everyKey: boolean): Promise<void> {
    this.clearTimer();
    if (this.client.status === 'connecting' || this.client.status === 'connect') await this.connectAttempt();
    // Not connected: the `ready` event settles when the client is back.
    if (this.client.status !== 'ready') return;
    if (this.unsent.size === 0 && this.mode === 'shared' && !everyKey) return;
    const windowStart = this.windowStart;
    const batch = [...(everyKey ? this.counts : this.unsent)].map(([key, count]) => ({ key, count, sent: count.pending }));
    this.unsent = new Map();
    const ttlMs = Math.max(EXPIRY_GRACE_MS, (windowStart + WINDOW_S) * 1000 + EXPIRY_GRACE_MS - this.clock());
    const keys = batch.map((b) => `${this.prefix}${windowStart}:${b.key}`);
    try {
      const totals = await (this.client as unknown as SettleClient).tokenboxRateSettle(keys.length, ...keys, ttlMs, ...batch.map((b) => b.sent));
      batch.forEach((b, i) => {
        b.count.settled = Number(totals[i]);
        b.count.pending -= b.sent;
      });
      this.goShared();
    } catch (error) {
      // Still pending: the next settle sends them, unless their window has ended meanwhile.
      if (windowStart === this.windowStart) for (const b of batch) if (b.sent > 0) this.unsent.set(b.key, b.count);
      this.goLocal(error);
    }
    if (this.unsent.size > 0 || this.mode === 'local') this.schedule();
  }

  /** Resolves when the connection attempt under way ends, either way (within the connect timeout). */
  private connectAttempt(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.client.off('ready', done);
        this.client.off('close', done);
        resolve();
      };
      this.client.once('ready', done);
      this.client.once('close', done);
    });
  }

  private goLocal(error: unknown): void {
    if (this.mode === 'local' || this.closed) return;
    this.mode = 'local';
    this.report('local', error);
  }

  private goShared(): void {
    if (this.mode === 'shared' || this.closed) return;
    this.mode = 'shared';
    this.report('shared');
  }
}
