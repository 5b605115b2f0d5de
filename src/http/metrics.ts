/**
 * Prometheus metrics (SPEC §10), served by `serve` on `metricsPort` only, never on the main
 * port. The request path pays one Map increment at most: the hot paths (forward auth, the
 * gateway) count verdicts, the APIs and the page count requests by route and status in an
 * `onResponse` hook, and everything else (cache hits, the change log's lag, usage flushes) is
 * read from the parts that already keep it, when Prometheus scrapes. prom-client formats it.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StoreObserver } from '../store/port.js';
import type { FollowerStatus } from '../verification/change-follower.js';
import type { DirectoryStats } from '../verification/token-directory.js';
import type { FlushStats } from '../verification/usage-flusher.js';
import { CHECK_PREFIX } from './original-request.js';

/** Plain counters the request path increments; turned into metrics at scrape time. */
export class RequestCounters {
  /** `route \t status` → requests answered (APIs, page, health). */
  readonly requests = new Map<string, number>();
  /**
   * way → verdict code → [count, status]. Keyed by the code alone (a verdict's status follows
   * from its code), so counting a verdict builds no string: one Map.get and an increment.
   */
  readonly verdicts = { 'forward-auth': new Map<string, [number, number]>(), gateway: new Map<string, [number, number]>() };

  request(route: string, status: number): void {
    const key = `${route}\t${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  verdict(way: 'forward-auth' | 'gateway', code: string, status: number): void {
    const seen = this.verdicts[way].get(code);
    if (seen === undefined) this.verdicts[way].set(code, [1, status]);
    else seen[0]++;
  }
}

/** What the metrics read when scraped: the parts of a running tokenbox that keep figures. */
export interface MetricsSources {
  readonly directory: { readonly stats: DirectoryStats };
  readonly changes: { status(): FollowerStatus };
  readonly usage: { readonly stats: FlushStats };
  readonly storeObserver: StoreObserver;
}

export interface Metrics {
  readonly registry: Registry;
  readonly counters: RequestCounters;
}

/** The registry with every tokenbox metric, and the counters the server increments. */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  const counters = new RequestCounters();
  const registers = [registry];

  new Counter({
    name: 'tokenbox_http_requests_total',
    help: 'HTTP requests answered, by route pattern and status (forward auth included; the gateway counts its refusals here, its proxied answers as valid verdicts).',
    labelNames: ['route', 'status'],
    registers,
    collect() {
      this.reset();
      for (const [key, n] of counters.requests) {
        const [route, status] = key.split('\t') as [string, string];
        this.inc({ route, status }, n);
      }
      for (const [way, codes] of Object.entries(counters.verdicts)) {
        for (const [code, [n, status]] of codes) {
          // A proxied answer's status is the upstream's: it is counted as a `valid` verdict only.
          if (way === 'gateway' && code === 'valid') continue;
          this.inc({ route: way === 'forward-auth' ? `${CHECK_PREFIX}*` : 'gateway', status: String(status) }, n);
        }
      }
    },
  });
  new Counter({
    name: 'tokenbox_verdicts_total',
    help: 'Verification verdicts given by forward auth and the gateway, by code (valid for an allowed request).',
    labelNames: ['way', 'code'],
    registers,
    collect() {
      this.reset();
      for (const [way, codes] of Object.entries(counters.verdicts)) for (const [code, [n]] of codes) this.inc({ way, code }, n);
    },
  });
  const counterOf = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  counterOf('tokenbox_cache_hits_total', 'Token look-ups answered from the verification cache.', () => sources.directory.stats.hits);
  counterOf('tokenbox_cache_misses_total', 'Token look-ups that read the store.', () => sources.directory.stats.reads);
  counterOf('tokenbox_usage_flush_writes_total', 'Usage flush transactions written.', () => sources.usage.stats.writes);
  counterOf('tokenbox_usage_flush_rows_total', 'Usage rows (token and day) written by flushes.', () => sources.usage.stats.rows);
  counterOf(
    'tokenbox_usage_flush_failures_total',
    'Usage flush transactions that failed (their counts are kept and retried).',
    () => sources.usage.stats.failures,
  );
  const gaugeOf = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  };
  gaugeOf('tokenbox_change_log_seq', 'The last change-log seq this process has applied.', () => sources.changes.status().seq);
  gaugeOf(
    'tokenbox_change_log_lag_seconds',
    "How far this process is behind the store's change log: the age of the oldest change not yet applied (0 when current).",
    () => sources.changes.status().lagMs / 1000,
  );
  gaugeOf('tokenbox_change_log_failing', '1 while the change log cannot be read (revocations from other processes are not seen), else 0.', () =>
    sources.changes.status().failing ? 1 : 0,
  );
  // The process, read when scraped. prom-client's default metrics are not used: their GC
  // observer and event-loop timer run all the time, and cost the hot path measurably.
  counterOf('tokenbox_process_cpu_seconds_total', 'CPU time (user and system) this process has used.', () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  });
  gaugeOf('tokenbox_process_resident_memory_bytes', 'Resident set size of this process.', () => process.memoryUsage.rss());
  gaugeOf('tokenbox_nodejs_heap_used_bytes', 'V8 heap in use.', () => process.memoryUsage().heapUsed);
  let loopBefore = performance.eventLoopUtilization();
  gaugeOf('tokenbox_nodejs_event_loop_utilization', 'How busy the event loop was (0 to 1) since the previous scrape.', () => {
    const now = performance.eventLoopUtilization();
    const since = performance.eventLoopUtilization(now, loopBefore);
    loopBefore = now;
    return since.utilization;
  });
  const storeCalls = new Histogram({
    name: 'tokenbox_store_call_duration_seconds',
    help: 'Store calls by port method and outcome, lock waits included.',
    labelNames: ['method', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  sources.storeObserver.observe = (method, seconds, failed) => storeCalls.observe({ method, outcome: failed ? 'error' : 'ok' }, seconds);
  return { registry, counters };
}

/** The metrics port's server: `GET /metrics` in Prometheus' text format, 404 for anything else. */
export function buildMetricsServer(metrics: Metrics): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ message: 'Not found' }));
  return app;
}
