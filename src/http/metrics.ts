/**
 * Prometheus metrics (SPEC §10), served by `serve` on `metricsPort` only, never on the main
 * port. The request path pays one Map increment at most: the hot paths (forward auth, the
 * gateway) count verdicts, the APIs and the page count requests by route and status in an
 * `onResponse` hook, and everything else (cache hits, the change log's lag, usage flushes) is
 * read from the parts that already keep it, when Prometheus scrapes. prom-client formats it.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreObserver } from '../store/port.js';
import type { FollowerStatus } from '../verification/change-follower.js';
import type { DirectoryStats } from '../verification/token-directory.js';
import type { FlushStats } from '../verification/usage-flusher.js';
import { CHECK_PREFIX } from './original-request.js';

/** Plain counters the request path increments; turned into metrics at scrape time. */
export class RequestCounters {
  /** `route \t status` → requests answered (APIs, page, health). */
  readonly requests = new Map<string, number>();
  /** `way \t code \t status` → verdicts given (forward auth, the gateway). */
  readonly verdicts = new Map<string, number>();

  request(route: string, status: number): void {
    const key = `${route}\t${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  verdict(way: 'forward-auth' | 'gateway', code: string, status: number): void {
    const key = `${way}\t${code}\t${status}`;
    this.verdicts.set(key, (this.verdicts.get(key) ?? 0) + 1);
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
  collectDefaultMetrics({ register: registry, prefix: 'tokenbox_' });
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
      for (const [key, n] of counters.verdicts) {
        const [way, code, status] = key.split('\t') as [string, string, string];
        // A proxied answer's status is the upstream's: it is counted as a `valid` verdict only.
        if (way === 'gateway' && code === 'valid') continue;
        this.inc({ route: way === 'forward-auth' ? `${CHECK_PREFIX}*` : 'gateway', status }, n);
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
      for (const [key, n] of counters.verdicts) {
        const [way, code] = key.split('\t') as [string, string];
        this.inc({ way, code }, n);
      }
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
