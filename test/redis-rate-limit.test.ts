/**
 * Cluster-wide rate limits in Redis (SPEC §7), against a real Redis (127.0.0.1:6379, or
 * TOKENBOX_TEST_REDIS_URL). Without one the suite is one skipped test naming why, except under CI
 * (`CI` set), where it is a failure.
 *
 * - Two limiters on one prefix are two nodes. Settling between hits, together they allow exactly
 *   the limit; with hits interleaved between settles, at most the limit plus each node's largest
 *   batch of unsettled hits (the overshoot docs/deployment.md states). A new window starts afresh;
 *   each counter expires a little after its window.
 * - Redis cut (through a TCP proxy): one `local` report, hits keep answering and each node limits
 *   alone; restored: one `shared` report, by itself, and the outage's hits are counted in Redis.
 * - End to end: two `tokenbox serve` on one data directory and one Redis, forward auth on a route
 *   with `rateLimit`; then the same with Redis cut: no 5xx, each node limits alone, one log line
 *   each way.
 *
 * Time is the injected clock for the limiters; the real servers use the wall clock, so their
 * phases start with at least 15 s left in the current window. Nothing waits on a sleep: tests wait
 * for reports, log lines, or Redis's own counters.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisRateLimiter, EXPIRY_GRACE_MS, type RateLimitMode } from '../src/store/redis/redis-rate-limiter.js';
import { WINDOW_S } from '../src/verification/rate-limiter.js';
import { testClock, type TestClock } from './helpers/app.js';
import { children, cliJson, ensureBuilt, startServer, stopServer, type RunningServer } from './helpers/cli.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { canRun } from './helpers/requirements.js';

const REDIS_URL = process.env.TOKENBOX_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS = new URL(REDIS_URL);
/** Every key this run writes starts with this (the servers' keys hold this run's usernames). */
const RUN = randomBytes(4).toString('hex');
const SEED = 20_260_128;

/** Why Redis cannot be used here, or null. */
async function redisMissing(): Promise<string | null> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
  });
  // The socket's own error (ECONNREFUSED…) says more than the rejection's "Connection is closed".
  let cause: Error | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (error) {
    return `no Redis answers at ${REDIS.host} (${(cause ?? (error as Error)).message}); start one or set TOKENBOX_TEST_REDIS_URL`;
  } finally {
    client.disconnect();
  }
}

if (canRun('cluster-wide rate limits in Redis', await redisMissing())) {
  describe('RedisRateLimiter: two nodes on one Redis', { timeout: 30_000 }, limiterSuite);
  describe('tokenbox serve ×2 with redisUrl: forward auth with a route rateLimit', { timeout: 120_000 }, serveSuite);
}

/** A small seeded PRNG (mulberry32): the same interleavings on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The URL of the same Redis through `proxy`. */
function viaProxy(proxy: TcpProxy): string {
  const url = new URL(REDIS_URL);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return url.toString();
}

async function deleteKeys(admin: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

interface Node {
  readonly limiter: RedisRateLimiter;
  readonly reports: RateLimitMode[];
  /** Emits `local` and `shared` as the limiter reports them. */
  readonly events: EventEmitter;
}

function limiterSuite(): void {
  const LIMIT = 10;
  const prefix = `tokenbox-test:${RUN}:`;
  let admin: Redis;
  let clock: TestClock;
  let nodes: Node[] = [];
  /** Each pair of nodes counts in a window no other pair of this run uses. */
  let windows = 0;

  before(() => {
    admin = new Redis(REDIS_URL);
  });
  after(async () => {
    await deleteKeys(admin, `${prefix}*`);
    await admin.quit();
  });
  afterEach(async () => {
    for (const n of nodes) await n.limiter.close();
    nodes = [];
  });

  /** A node whose timer never settles on its own (an hour): the test settles when it says so. */
  function node(url = REDIS_URL): Node {
    const events = new EventEmitter();
    const reports: RateLimitMode[] = [];
    const limiter = new RedisRateLimiter({
      url,
      clock: () => clock(),
      prefix,
      settleMs: 3_600_000,
      report: (event) => {
        reports.push(event);
        events.emit(event);
      },
    });
    const n = { limiter, reports, events };
    nodes.push(n);
    return n;
  }

  /** Two nodes, connected (a settle waits for the connection), in a window of their own. */
  async function twoNodes(url?: string): Promise<[Node, Node]> {
    // 7 s into the window.
    clock = testClock(Date.UTC(2026, 0, 28, 12, 0, 0) + ++windows * 2 * WINDOW_S * 1000 + 7_000);
    const pair: [Node, Node] = [node(url), node(url)];
    await Promise.all(pair.map((n) => n.limiter.settle()));
    return pair;
  }

  const windowKey = (key: string): string => {
    const nowS = Math.floor(clock() / 1000);
    return `${prefix}${nowS - (nowS % WINDOW_S)}:${key}`;
  };

  it('settling between hits, two nodes together allow exactly the limit, and every hit is counted', async () => {
    const pair = await twoNodes();
    const next = seeded(SEED);
    let allowed = 0;
    for (let i = 0; i < 3 * LIMIT; i++) {
      const { limiter } = pair[next() < 0.5 ? 0 : 1];
      await limiter.settle({ everyKey: true });
      if (limiter.hit('exact', LIMIT).allowed) allowed++;
      await limiter.settle();
    }
    assert.equal(allowed, LIMIT);
    assert.equal(await admin.get(windowKey('exact')), String(3 * LIMIT));
  });

  it('with hits interleaved between settles, the total allowed is within the limit plus each node’s largest unsettled batch', async () => {
    const figures: string[] = [];
    for (let run = 0; run < 8; run++) {
      const pair = await twoNodes();
      const next = seeded(SEED + run);
      // Per node: hits since its last settle, and the most it ever held unsettled.
      const batches = pair.map(() => ({ unsettled: 0, largest: 0 }));
      let allowed = 0;
      for (let step = 0; step < 6 * LIMIT; step++) {
        const i = next() < 0.5 ? 0 : 1;
        const batch = batches[i] as { unsettled: number; largest: number };
        if (next() < 0.25) {
          await pair[i].limiter.settle();
          batch.unsettled = 0;
          continue;
        }
        if (pair[i].limiter.hit('interleaved', LIMIT).allowed) allowed++;
        batch.largest = Math.max(batch.largest, ++batch.unsettled);
      }
      const bound = LIMIT + batches.reduce((sum, b) => sum + b.largest, 0);
      figures.push(`${allowed}≤${bound}`);
      assert.ok(allowed >= LIMIT && allowed <= bound, `run ${run}: ${allowed} allowed, bound ${bound}`);
      for (const n of pair) await n.limiter.close();
      nodes = [];
    }
    console.log(`[redis-rate-limit] allowed≤bound per run (limit ${LIMIT}): ${figures.join(' ')}`);
  });

  it('a new window starts afresh, in a key of its own', async () => {
    const [a, b] = await twoNodes();
    for (let i = 0; i < LIMIT; i++) assert.equal(a.limiter.hit('fresh', LIMIT).allowed, true);
    await a.limiter.settle();
    assert.equal(b.limiter.hit('fresh', LIMIT).allowed, true, 'b has not settled yet');
    await b.limiter.settle();
    assert.equal(b.limiter.hit('fresh', LIMIT).allowed, false);
    const old = windowKey('fresh');
    clock.advance(WINDOW_S * 1000);
    assert.equal(a.limiter.hit('fresh', LIMIT).allowed, true);
    assert.equal(b.limiter.hit('fresh', LIMIT).allowed, true);
    await Promise.all([a.limiter.settle(), b.limiter.settle()]);
    assert.equal(await admin.get(windowKey('fresh')), '2');
    // b's refused hit was still unsent when the window ended: an ended window's hits are dropped
    // unsent, as they can no longer refuse anything.
    assert.equal(await admin.get(old), String(LIMIT + 1));
  });

  it('each counter expires a little after its window ends', async () => {
    const [a] = await twoNodes();
    a.limiter.hit('expiring', LIMIT);
    await a.limiter.settle();
    const nowMs = clock();
    const windowEndMs = (Math.floor(nowMs / 1000 / WINDOW_S) + 1) * WINDOW_S * 1000;
    const expected = windowEndMs + EXPIRY_GRACE_MS - nowMs;
    const pttl = await admin.pttl(windowKey('expiring'));
    assert.ok(pttl > expected - 5_000 && pttl <= expected, `PTTL ${pttl} ms, expected about ${expected} ms`);
  });

  it('Redis cut: one local report each, hits keep answering and each node limits alone; restored: shared again by itself, the outage’s hits counted', async () => {
    const proxy = await startTcpProxy(REDIS.hostname, Number(REDIS.port || 6379));
    try {
      const [a, b] = await twoNodes(viaProxy(proxy));
      for (let i = 0; i < 3; i++) a.limiter.hit('before', LIMIT);
      await a.limiter.settle();
      assert.equal(await admin.get(windowKey('before')), '3', 'shared before the cut');

      const wentLocal = Promise.all([a, b].map((n) => once(n.events, 'local')));
      proxy.cut();
      await wentLocal;
      // Each node alone: exactly LIMIT each on a fresh key, however many settles are tried.
      for (const n of [a, b]) {
        const decisions = Array.from({ length: LIMIT + 2 }, () => n.limiter.hit('during', LIMIT).allowed);
        await n.limiter.settle();
        assert.deepEqual(decisions, [...Array<boolean>(LIMIT).fill(true), false, false]);
        assert.deepEqual(n.limiter.status(), { mode: 'local' });
      }
      assert.deepEqual([a.reports, b.reports], [['local'], ['local']]);

      const backShared = Promise.all([a, b].map((n) => once(n.events, 'shared')));
      proxy.restore();
      await backShared;
      assert.deepEqual(
        [a.reports, b.reports],
        [
          ['local', 'shared'],
          ['local', 'shared'],
        ],
      );
      assert.equal(await admin.get(windowKey('during')), String(2 * (LIMIT + 2)), 'the hits counted during the outage reached Redis');
      // Counting in Redis again: b learns a's hits through its own settle.
      for (let i = 0; i < LIMIT; i++) a.limiter.hit('after', LIMIT);
      await a.limiter.settle();
      assert.equal(b.limiter.hit('after', LIMIT).allowed, true, 'b has not settled since');
      await b.limiter.settle();
      assert.equal(b.limiter.hit('after', LIMIT).allowed, false);
      assert.deepEqual(b.limiter.status(), { mode: 'shared' });
    } finally {
      await proxy.close();
    }
  });
}

function serveSuite(): void {
  const LIMIT = 5;
  const users = [`rl${RUN}a`, `rl${RUN}b`] as const;
  const LOCAL_LINE = 'rate limits cannot be counted in Redis';
  const SHARED_LINE = 'rate limits are counted in Redis again';
  let dataDir: string;
  let proxy: TcpProxy;
  let admin: Redis;
  let servers: RunningServer[] = [];
  const tokens = new Map<string, string>();

  before(async () => {
    ensureBuilt();
    admin = new Redis(REDIS_URL);
    proxy = await startTcpProxy(REDIS.hostname, Number(REDIS.port || 6379));
    dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-redis-'));
    for (const user of users) {
      await cliJson(['accounts', 'create', user, '--data', dataDir]);
      const sk = await cliJson<{ token: string }>(['tokens', 'create', user, '--scopes', 'styles:tiles', '--data', dataDir]);
      tokens.set(user, sk.token);
    }
    const configPath = join(dataDir, 'config.json');
    writeFileSync(configPath, JSON.stringify({ routes: [{ path: '/tiles/*', scope: 'styles:tiles', rateLimit: LIMIT }] }));
    const env = { TOKENBOX_CONFIG: configPath, TOKENBOX_REDIS_URL: viaProxy(proxy) };
    servers = [await startServer(dataDir, env), await startServer(dataDir, env)];
  });

  after(async () => {
    for (const server of servers) if (children.has(server.proc)) await stopServer(server, ['SIGTERM']);
    for (const child of children) child.kill('SIGKILL');
    await proxy?.close();
    if (admin) {
      for (const user of users) await deleteKeys(admin, `tokenbox:rl:*:route:0:${user}`);
      await admin.quit();
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** Forward auth (nginx style) for `user`'s sk on the rate-limited route: the status. */
  async function check(server: RunningServer, user: string): Promise<number> {
    const token = tokens.get(user) as string;
    const res = await fetch(`${server.origin}/auth/v1/check`, {
      headers: { 'x-original-uri': `/tiles/1/2/3.png?access_token=${encodeURIComponent(token)}`, 'x-original-method': 'GET' },
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** The Redis counter of `user`'s route bucket in the current window. */
  function routeKey(user: string): string {
    const nowS = Math.floor(Date.now() / 1000);
    return `tokenbox:rl:${nowS - (nowS % WINDOW_S)}:route:0:${user}`;
  }

  /**
   * The servers count in wall-clock windows: a phase starts with at least 15 s of its window left,
   * so no window ends inside it (waiting for the clock, not for something to happen).
   */
  async function windowWithRoom(): Promise<void> {
    const left = WINDOW_S * 1000 - (Date.now() % (WINDOW_S * 1000));
    if (left < 15_000) await new Promise((resolve) => setTimeout(resolve, left + 50));
  }

  /** Resolves once Redis holds `count` for `key` (the serving node has settled), polling Redis itself. */
  async function settledTo(key: string, count: number): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (Number(await admin.get(key)) !== count) {
      assert.ok(Date.now() < deadline, `${key} did not reach ${count} within 5 s`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it('requests spread over both nodes: the limit holds across them, within one hit per node', async () => {
    await windowWithRoom();
    const [user] = users;
    const key = routeKey(user);
    const next = seeded(SEED);
    const statuses: number[] = [];
    for (let i = 0; i < 4 * LIMIT; i++) {
      statuses.push(await check(servers[next() < 0.5 ? 0 : 1] as RunningServer, user));
      await settledTo(key, i + 1);
    }
    const allowed = statuses.filter((s) => s === 200).length;
    console.log(`[redis-rate-limit] serve ×2, limit ${LIMIT}, ${statuses.length} requests one at a time: ${allowed} allowed (${statuses.join(' ')})`);
    assert.deepEqual(new Set(statuses), new Set([200, 429]));
    // Each request waits until its node has settled it, so a node decides knowing every hit but
    // those the other node took since this node's own last settle: at most one node's worth of
    // overshoot at the boundary (docs/deployment.md), here at most 1 per node.
    assert.ok(allowed >= LIMIT && allowed <= LIMIT + servers.length, `${allowed} allowed`);
    assert.equal(
      statuses.slice(-LIMIT).every((s) => s === 429),
      true,
      'once every node knows, all are refused',
    );
  });

  it('Redis cut: no request fails, each node limits alone, one log line each way, /health shows the mode', async () => {
    await windowWithRoom();
    proxy.cut();
    await Promise.all(servers.map((s) => s.waitForOutput(LOCAL_LINE)));
    const [, user] = users;
    for (const server of servers) {
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 3; i++) statuses.push(await check(server, user));
      assert.deepEqual(statuses, [...Array<number>(LIMIT).fill(200), 429, 429, 429], 'each node alone allows exactly the limit');
      const health = await fetch(`${server.origin}/health`);
      assert.equal(health.status, 200, 'Redis down is degraded, not down');
      assert.deepEqual(((await health.json()) as { rateLimits: unknown }).rateLimits, { mode: 'local' });
    }
    proxy.restore();
    await Promise.all(servers.map((s) => s.waitForOutput(SHARED_LINE)));
    for (const server of servers) {
      const lines = server.output();
      assert.equal(lines.split(LOCAL_LINE).length - 1, 1, 'one line on going local');
      assert.equal(lines.split(SHARED_LINE).length - 1, 1, 'one line on coming back');
      assert.equal(lines.split('"level":50').length - 1, 1, 'no other error logged');
    }
  });
}
