/**
 * The composition root: config → store → services → HTTP or CLI. The only place that picks
 * concrete adapters.
 */
import type { Config } from './config/config.js';
import { systemClock, type Clock } from './domain/clock.js';
import { CHANGE_RETENTION_MS } from './domain/policy.js';
import { Sealer } from './domain/sealer.js';
import { loadSecret } from './secret-key.js';
import { ScopeCatalog } from './domain/scopes.js';
import type { HttpDeps } from './http/context.js';
import { AccessService } from './services/access.js';
import { AccountsService } from './services/accounts-service.js';
import { AdminAccountsService } from './services/admin-accounts-service.js';
import { AdminKeysService } from './services/admin-keys-service.js';
import { AnalyticsService } from './services/analytics-service.js';
import { AuditService } from './services/audit-service.js';
import { Keyring } from './services/keyring.js';
import { MemoryRateLimiter } from './verification/rate-limiter.js';
import type { RateLimitMode } from './store/redis/redis-rate-limiter.js';
import { TemporaryTokensService } from './services/temporary-tokens-service.js';
import { TokensService } from './services/tokens-service.js';
import { SessionsService } from './services/sessions-service.js';
import type { MigrationResult, Store, StoreObserver } from './store/port.js';
import { openPostgresStore } from './store/postgres/postgres-store.js';
import { openSqliteStore } from './store/sqlite/sqlite-store.js';
import type { TransferableStore } from './store/transfer.js';
import { timedStore } from './store/timed-store.js';
import { Authenticator } from './verification/authenticator.js';
import { CHANGE_POLL_MS, PUSHED_CHANGE_POLL_MS } from './verification/change-follower.js';
import { TokenDirectory } from './verification/token-directory.js';
import { UsageCounter } from './verification/usage-counter.js';
import { UsageFlusher } from './verification/usage-flusher.js';
import { Verifier } from './verification/verifier.js';

export interface Tokenbox extends HttpDeps {
  readonly keyring: Keyring;
  readonly sealer: Sealer;
  readonly catalog: ScopeCatalog;
  readonly migration: MigrationResult;
  readonly directory: TokenDirectory;
  /** Told the duration of every store call; a no-op until `serve` turns metrics on. */
  readonly storeObserver: StoreObserver;
  /** Writes counted usage every `usageFlushMs`; `flush()` writes it now (tests, shutdown). */
  readonly usage: UsageFlusher;
  /**
   * One housekeeping run (SPEC §7): ended page sessions, day-old Idempotency-Keys, audit entries
   * older than `auditRetentionDays`, and change-log entries older than CHANGE_RETENTION_MS go,
   * each through the store's own batching and lock wait (never holding the event loop). On
   * PostgreSQL the run takes an advisory lock, so one node at a time does it; false when another
   * node held it. A failing job is reported and the others still run.
   */
  housekeep(report: (error: unknown) => void): Promise<boolean>;
  /**
   * Starts `serve`'s periodic housekeeping: `housekeep` every HOUSEKEEPING_MS. Only `serve` runs
   * it: a command that only reads writes nothing.
   */
  startHousekeeping(report: (error: unknown) => void): void;
  /**
   * With `redisUrl`, tells `report` each time rate limits go local (Redis unreachable: each node
   * limits alone) and shared again; a change before the call is told at once. `serve` logs them.
   */
  onRateLimitModeChange(report: (event: RateLimitMode, error?: unknown) => void): void;
  /** Stops the timers, flushes counted usage (a failure keeps nothing back from closing), closes the store. */
  close(): Promise<void>;
}

export const HOUSEKEEPING_MS = 10 * 60_000;

export interface OpenOptions {
  readonly clock?: Clock;
  /** A store to use instead of the one the config names (tests). */
  readonly store?: Store;
  /**
   * How often to poll the change log for other processes' changes (ms); 0 for a one-shot
   * command, which reads the log once at start and never needs to follow it.
   */
  readonly changePollMs?: number;
  /**
   * Re-derive every default token's scopes from this configuration's catalog (SPEC §4.4). Only
   * `serve` and `migrate` do: they run with the operator's configuration. A command that only
   * reads, or the in-process verifier opened without the operator's `--config`, must not write.
   */
  readonly rederiveDefaultScopes?: boolean;
}

/**
 * The store the configuration names: PostgreSQL when `databaseUrl` is set (a pool of
 * `databasePoolSize` connections), else the SQLite file in the data directory. The one place a
 * backend is chosen. Every backend can be moved (`export` / `import` open it bare, through here: no
 * keyring, so an import's target gets no signing key before the source's arrive).
 */
export function openConfiguredStore(config: Config): Store & TransferableStore {
  if (config.databaseUrl !== undefined) return openPostgresStore(config.databaseUrl, { poolSize: config.databasePoolSize });
  return openSqliteStore(config.dataDir);
}

/**
 * The Redis limiter, loaded only when `redisUrl` is set: a node without Redis never loads a Redis
 * client. A client is not free for the rest of the process: ioredis 6's RESP3 decoder declares
 * `class VerbatimString extends String`, and once any object inherits from `String.prototype`,
 * V8 11 (Node 20) stops inlining property loads on strings everywhere, so every `indexOf`,
 * `slice` and `length` on the hot path, Node's own HTTP code included, becomes a generic lookup.
 * Measured on `serve`: 95.3k instructions per forward-auth check with it loaded, 89.1k without
 * (docs/benchmarks.md). tokenbox stays on ioredis 5, which has no such class
 * (test/startup-modules.test.ts checks both).
 */
async function loadRedisLimiter(): Promise<typeof import('./store/redis/redis-rate-limiter.js').RedisRateLimiter> {
  return (await import('./store/redis/redis-rate-limiter.js')).RedisRateLimiter;
}

/** Opens the store (migrating it), loads the signing keys, and builds every service. */
export async function openTokenbox(config: Config, options: OpenOptions = {}): Promise<Tokenbox> {
  const clock = options.clock ?? systemClock;
  // Every store call is timed for the metrics (two clock reads; a cached verification makes none).
  const storeObserver: StoreObserver = { observe: () => undefined };
  const store = timedStore(options.store ?? openConfiguredStore(config), storeObserver);
  try {
    const migration = await store.migrate();
    const sealer = new Sealer(loadSecret(config));
    const catalog = new ScopeCatalog(config.scopes);
    const keyring = new Keyring(store, sealer, clock);
    await keyring.load();
    const directory = new TokenDirectory(store, clock, config.cacheSize);
    const authenticator = new Authenticator(store, directory, keyring, clock);
    // A rotation by any process reaches this one through the change log (SPEC §2, §7): reload
    // the keys, and forget tks refused as forged, which the new key may have signed.
    directory.follower.onKeyRotation(async () => {
      await keyring.load();
      authenticator.forgetForged();
    });
    await directory.follower.start(options.changePollMs ?? (store.watchChanges === undefined ? CHANGE_POLL_MS : PUSHED_CHANGE_POLL_MS));
    const unwatch = store.watchChanges?.(() => void directory.follower.wake());
    const tokens = new TokensService({
      store,
      sealer,
      catalog,
      clock,
      maxTokensPerAccount: config.maxTokensPerAccount,
      afterWrite: () => directory.follower.poll(),
    });
    const accounts = new AccountsService(store, tokens, sealer, catalog, clock, () => directory.follower.poll());
    if (options.rederiveDefaultScopes === true) await accounts.rederiveDefaultScopes();
    // Rate limits (SPEC §7): counted in Redis across the cluster with `redisUrl`, else per node.
    // The limiter connects now, before serve's logger listens: the last change waits for it.
    let reportLimiterMode: ((event: RateLimitMode, error?: unknown) => void) | undefined;
    let limiterLocal: { error: unknown } | undefined;
    const redisLimiter =
      config.redisUrl === undefined
        ? undefined
        : new (await loadRedisLimiter())({
            url: config.redisUrl,
            clock,
            report: (event, error) => {
              limiterLocal = event === 'local' ? { error } : undefined;
              reportLimiterMode?.(event, error);
            },
          });
    const limiter = redisLimiter ?? new MemoryRateLimiter(clock);
    // Usage (SPEC §5): counted in memory by the verifier, written in batches off the request path.
    const counter = new UsageCounter();
    const usage = new UsageFlusher(counter, store);
    usage.start(config.usageFlushMs);
    const sessions = new SessionsService(store, clock);
    const audit = new AuditService(store, clock, config.auditRetentionDays);
    let housekeeping: NodeJS.Timeout | undefined;
    const housekeep = (report: (error: unknown) => void): Promise<boolean> =>
      store.runExclusive('housekeeping', async () => {
        const jobs = [sessions.prune(), audit.prune(), store.pruneChanges(clock() - CHANGE_RETENTION_MS)];
        for (const job of await Promise.allSettled(jobs)) if (job.status === 'rejected') report(job.reason);
      });
    return {
      config,
      store,
      clock,
      sealer,
      catalog,
      keyring,
      migration,
      authenticator,
      tokens,
      accounts,
      access: new AccessService(store),
      analytics: new AnalyticsService(store, clock),
      temporary: new TemporaryTokensService(keyring, authenticator, catalog, clock),
      sessions,
      adminKeys: new AdminKeysService(store, clock),
      adminAccounts: new AdminAccountsService(store, accounts, sessions),
      audit,
      limiter,
      verifier: new Verifier(authenticator, limiter, config.tokenRateLimit, clock, counter),
      directory,
      usage,
      changes: directory.follower,
      storeObserver,
      housekeep,
      startHousekeeping: (report) => {
        clearInterval(housekeeping);
        housekeeping = setInterval(() => void housekeep(report).catch(report), HOUSEKEEPING_MS).unref();
      },
      onRateLimitModeChange: (report) => {
        reportLimiterMode = report;
        if (limiterLocal !== undefined) report('local', limiterLocal.error);
      },
      close: async () => {
        clearInterval(housekeeping);
        unwatch?.();
        directory.follower.stop();
        usage.stop();
        // The last flush, before the store closes; it never rejects (a failure is reported to
        // the flusher's health listener, and what it could not write is lost with the process).
        await usage.flush();
        await redisLimiter?.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
