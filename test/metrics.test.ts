/**
 * Metrics (SPEC §10) on the real `tokenbox serve`: `/metrics` on `metricsPort` in Prometheus'
 * text format (read back with a Prometheus text-format parser from npm), counters that move
 * with the requests made, nothing on the main port, and a clear start-up error for a port in use.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { cli, cliJson, e2eDataDir, ensureBuilt, freePort, startServer, type RunningServer } from './helpers/cli.js';
import type { TokenObject } from '../src/services/token-view.js';

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string }[];
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

const dataDir = e2eDataDir('tokenbox-metrics-');

/** The value of a sample of `name` whose labels include `labels` (0 when absent). */
function sample(families: Family[], name: string, labels: Record<string, string> = {}): number {
  const family = families.find((f) => f.name === name);
  const match = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return match?.value === undefined ? 0 : Number(match.value);
}

describe('metrics on metricsPort', () => {
  let server: RunningServer;
  let metricsOrigin: string;
  let pk: string;

  before(async () => {
    ensureBuilt();
    const created = await cliJson<{ defaultPublicToken: TokenObject & { token: string } }>(['accounts', 'create', 'alice', '--data', dataDir]);
    pk = created.defaultPublicToken.token;
    const metricsPort = await freePort();
    metricsOrigin = `http://127.0.0.1:${metricsPort}`;
    server = await startServer(dataDir, { TOKENBOX_METRICS_PORT: String(metricsPort) });
  });
  after(() => server?.proc.kill('SIGTERM'));

  let lastText = '';
  const scrape = async (): Promise<Family[]> => {
    const res = await fetch(`${metricsOrigin}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    lastText = await res.text();
    return parsePrometheus(lastText);
  };
  const check = (token: string) =>
    fetch(`${server.origin}/auth/v1/check?scope=styles:read`, { headers: { 'X-Original-URI': `/tiles/1/2/3.png?access_token=${token}` } });

  it('verdicts, requests, cache hits and store calls move with the requests made', async () => {
    const before = await scrape();
    for (let i = 0; i < 5; i++) assert.equal((await check(pk)).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await check('pk.not-a-token')).status, 401);
    assert.equal((await fetch(`${server.origin}/health`)).status, 200);
    assert.equal((await fetch(`${server.origin}/tokens/v2/alice`)).status, 401);
    const now = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}) => sample(now, name, labels) - sample(before, name, labels);
    assert.equal(moved('tokenbox_verdicts_total', { way: 'forward-auth', code: 'valid' }), 5);
    assert.equal(moved('tokenbox_verdicts_total', { way: 'forward-auth', code: 'invalid_token' }), 3);
    assert.equal(moved('tokenbox_http_requests_total', { route: '/auth/v1/check*', status: '200' }), 5);
    assert.equal(moved('tokenbox_http_requests_total', { route: '/auth/v1/check*', status: '401' }), 3);
    assert.equal(moved('tokenbox_http_requests_total', { route: '/health', status: '200' }), 1);
    assert.equal(moved('tokenbox_http_requests_total', { route: '/tokens/v2/:username', status: '401' }), 1);
    assert.ok(moved('tokenbox_cache_hits_total') >= 4, 'the pk is read once, then served from the cache');
    assert.ok(sample(now, 'tokenbox_cache_misses_total') >= 1);
    assert.equal(now.find((f) => f.name === 'tokenbox_store_call_duration_seconds')?.type, 'HISTOGRAM');
    // The parser keeps a histogram's buckets but not its labels: its count line is read as text.
    const lookups = /^tokenbox_store_call_duration_seconds_count\{method="findTokenByHash",outcome="ok"\} (\d+)$/m.exec(lastText);
    assert.ok(Number(lookups?.[1]) >= 1, 'the pk was read from the store once');
    assert.equal(now.find((f) => f.name === 'tokenbox_change_log_failing')?.metrics[0]?.value, '0');
    assert.ok(now.some((f) => f.name === 'tokenbox_change_log_lag_seconds'));
    assert.ok(
      now.some((f) => f.name === 'tokenbox_process_cpu_seconds_total'),
      'the process metrics are there too',
    );
  });

  it('usage flushes are counted once they happen', async () => {
    const before = sample(await scrape(), 'tokenbox_usage_flush_writes_total');
    assert.equal((await check(pk)).status, 200);
    // Flushed every usageFlushMs (5 s): wait on the scrape, not on a timer.
    const deadline = Date.now() + 15_000;
    let writes = before;
    while (writes === before && Date.now() < deadline) writes = sample(await scrape(), 'tokenbox_usage_flush_writes_total');
    assert.ok(writes > before, 'a usage flush was written');
  });

  it('/metrics is not on the main port; the metrics port answers nothing else', async () => {
    assert.equal((await fetch(`${server.origin}/metrics`)).status, 404);
    assert.equal((await fetch(`${metricsOrigin}/tokens/v2/alice`)).status, 404);
    const logs = server.output();
    assert.ok(!logs.includes(pk), 'no token in the log');
  });

  it('a metricsPort in use is a clear start-up error, exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const res = await cli(['serve', '--data', dataDir, '--port', String(await freePort())], { TOKENBOX_METRICS_PORT: String(port) });
      assert.equal(res.code, 1);
      assert.match(res.stderr, new RegExp(`cannot listen for metrics on 127\\.0\\.0\\.1:${port}: EADDRINUSE\\.`));
    } finally {
      blocker.close();
    }
  });
});
