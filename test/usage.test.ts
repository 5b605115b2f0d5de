/**
 * Usage counting (SPEC §5): every verified request counts toward its token's requests per UTC day
 * and its `lastUsed` (a tk toward its `p`), in memory, through every way in; flushes write one row
 * per token and day; a failed flush loses nothing; a flush invalidates no cache; SIGTERM to
 * `serve` flushes what it holds. Time is the injected clock; flushes are called, not waited for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config/config.js';
import { openTokenbox } from '../src/main.js';
import type { UsageReport } from '../src/services/analytics-service.js';
import { DAY_MS, utcDay, type Store, type UsageIncrement } from '../src/store/port.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { UsageCounter } from '../src/verification/usage-counter.js';
import { UsageFlusher } from '../src/verification/usage-flusher.js';
import { cliJson, e2eDataDir, ensureBuilt, startServer, stopServer } from './helpers/cli.js';
import { startTestApp, testClock, testConfig, type TestApp, type TestClock } from './helpers/app.js';

const SCOPE = 'styles:tiles';

function check(server: FastifyInstance, token: string, scope = SCOPE, headers: Record<string, string> = {}) {
  return server.inject({ method: 'GET', url: `/auth/v1/check?scope=${scope}`, headers: { 'x-original-uri': `/t?access_token=${token}`, ...headers } });
}

async function checks(server: FastifyInstance, token: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) assert.equal((await check(server, token)).statusCode, 200);
}

/** The analytics endpoint's answer for `id`, asked with an sk holding analytics:read. */
async function analytics(t: TestApp, reader: string, id: string, period?: string): Promise<UsageReport> {
  const query = period === undefined ? '' : `?period=${period}`;
  const res = await t.server.inject({ url: `/analytics/v1/tokens/alice/${id}${query}`, headers: { authorization: `Bearer ${reader}` } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<UsageReport>();
}

const sum = (report: UsageReport): number => report.counts.reduce((a, b) => a + b, 0);

async function withApp(fn: (t: TestApp, reader: string) => Promise<void>, overrides: Record<string, unknown> = {}, clock?: TestClock): Promise<void> {
  const t = await startTestApp(overrides, clock);
  try {
    await t.account('alice');
    const reader = (await t.token('alice', ['analytics:read', 'tokens:read', 'tokens:write'])).token;
    await fn(t, reader);
  } finally {
    await t.close();
  }
}

/** A store whose addUsage calls are recorded, and fail while `failing` is set. */
function recordingStore(inner: Store): { store: Store; calls: UsageIncrement[][]; failing: { on: boolean } } {
  const calls: UsageIncrement[][] = [];
  const failing = { on: false };
  const store = new Proxy(inner, {
    get(target, key, receiver) {
      if (key === 'addUsage') {
        return async (batch: readonly UsageIncrement[]) => {
          calls.push([...batch]);
          if (failing.on) throw new Error('the disk is full');
          return target.addUsage(batch);
        };
      }
      const value: unknown = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, calls, failing };
}

/** A test tokenbox whose SQLite store records every `addUsage` batch (and can be made to fail). */
async function openRecorded(clock: TestClock): Promise<TestApp & { rec: ReturnType<typeof recordingStore> }> {
  let rec: ReturnType<typeof recordingStore> | undefined;
  const t = await startTestApp({}, clock, {
    store: (dataDir) => {
      rec = recordingStore(openSqliteStore(dataDir));
      return rec.store;
    },
  });
  return Object.assign(t, { rec: rec! });
}

describe('counting verified requests', () => {
  it('N requests through forward auth and M through the in-process verifier are reported as N + M after a flush', () =>
    withApp(async (t, reader) => {
      const pk = (await t.token('alice', [SCOPE])).token;
      const id = (await t.app.tokens.list(await t.app.access.operator('alice'), { sortBy: 'created', limit: 100 })).tokens.find((x) => x.token === pk)!.id;
      await checks(t.server, pk, 7);
      for (let i = 0; i < 5; i++) assert.equal((await t.app.verifier.verify(pk, { scope: SCOPE })).ok, true);
      assert.equal(sum(await analytics(t, reader, id)), 0, 'nothing is reported before a flush');
      assert.equal(await t.app.usage.flush(), true);
      const report = await analytics(t, reader, id);
      assert.equal(report.counts.at(-1), 12, "today's count");
      assert.equal(sum(report), 12);
    }));

  it('requests on both sides of a UTC midnight are counted on their own days', () => {
    const clock = testClock(Date.UTC(2026, 10, 27, 23, 59, 58));
    return withApp(
      async (t, reader) => {
        const pk = (await t.account('bob')).token!;
        const sk = await t.token('alice', [SCOPE, 'map:read']);
        await checks(t.server, sk.token, 3);
        clock.advance(1_000); // 23:59:59.000
        await checks(t.server, sk.token, 1);
        clock.advance(1_000); // 00:00:00.000 the next day
        await checks(t.server, sk.token, 4);
        await checks(t.server, pk, 1);
        await t.app.usage.flush();
        const report = await analytics(t, reader, sk.id, '2026-11-26,2026-11-28');
        assert.deepEqual(report, {
          period: ['2026-11-26T00:00:00.000Z', '2026-11-28T00:00:00.000Z'],
          timestamps: ['2026-11-26T00:00:00.000Z', '2026-11-27T00:00:00.000Z', '2026-11-28T00:00:00.000Z'],
          counts: [0, 4, 4],
        });
      },
      {},
      clock,
    );
  });

  it('refusals never count: a missing scope, an unmet URL restriction, the per-token ceiling, a forged string', () =>
    withApp(
      async (t, reader) => {
        const restricted = await t.token('alice', [SCOPE], { allowedUrls: ['maps.example.com'] });
        const plain = await t.token('alice', [SCOPE]);
        assert.equal((await check(t.server, plain.token, 'map:read')).statusCode, 403);
        assert.equal((await check(t.server, restricted.token)).statusCode, 403);
        assert.equal((await check(t.server, restricted.token, SCOPE, { referer: 'https://maps.example.com/' })).statusCode, 200);
        const forged = `${plain.token.slice(0, -1)}${plain.token.endsWith('A') ? 'B' : 'A'}`;
        assert.equal((await check(t.server, forged)).statusCode, 401);
        await checks(t.server, plain.token, 2);
        assert.equal((await check(t.server, plain.token)).statusCode, 429, 'over tokenRateLimit');
        assert.equal((await t.app.verifier.verify(plain.token, { scope: SCOPE })).ok, false);
        await t.app.usage.flush();
        assert.equal(sum(await analytics(t, reader, plain.id)), 2, 'only the two accepted requests');
        assert.equal(sum(await analytics(t, reader, restricted.id)), 1, 'only the request from the allowed site');
      },
      { tokenRateLimit: 2 },
    ));

  it('a tk counts toward its p, through forward auth and the verifier', () =>
    withApp(async (t, reader) => {
      const parent = await t.token('alice', [SCOPE, 'tokens:write']);
      const expires = new Date(t.clock() + 600_000).toISOString();
      const minted = await t.server.inject({ method: 'POST', url: `/tokens/v2/alice?access_token=${parent.token}`, payload: { expires, scopes: [SCOPE] } });
      assert.equal(minted.statusCode, 200, minted.body);
      const tk = minted.json<{ token: string }>().token;
      await checks(t.server, tk, 3);
      assert.equal((await t.app.verifier.verify(tk, { scope: SCOPE })).ok, true);
      await t.app.usage.flush();
      assert.equal(sum(await analytics(t, reader, parent.id)), 4);
    }));

  it('lastUsed appears on the token object after a flush (list and update), as the ISO time of the last request', () =>
    withApp(async (t, reader) => {
      const pk = await t.token('alice', [SCOPE]);
      assert.equal('lastUsed' in pk, false, 'a new token has none');
      await checks(t.server, pk.token, 1);
      const lastAt = t.clock();
      t.clock.advance(3_000);
      const find = async () => {
        const res = await t.server.inject({ url: '/tokens/v2/alice', headers: { authorization: `Bearer ${reader}` } });
        return res.json<Array<{ id: string; lastUsed?: string }>>().find((x) => x.id === pk.id)!;
      };
      assert.equal((await find()).lastUsed, undefined, 'not before a flush');
      await t.app.usage.flush();
      assert.equal((await find()).lastUsed, new Date(lastAt).toISOString());
      const patched = await t.server.inject({
        method: 'PATCH',
        url: `/tokens/v2/alice/${pk.id}`,
        headers: { authorization: `Bearer ${reader}` },
        payload: { note: 'x' },
      });
      assert.equal(patched.json<{ lastUsed?: string }>().lastUsed, new Date(lastAt).toISOString());
    }));
});

describe('flushing', () => {
  it('the store sees one write per flush, with one row per token and day, not one per request', async () => {
    const clock = testClock();
    const s = await openRecorded(clock);
    try {
      const a = (await s.app.accounts.create('alice')).defaultPublicToken;
      const b = (await s.app.accounts.create('bob')).defaultPublicToken;
      for (let i = 0; i < 300; i++) assert.equal((await check(s.server, i % 3 === 0 ? b.token! : a.token!)).statusCode, 200);
      assert.equal(s.rec.calls.length, 0, 'no write on the request path');
      await s.app.usage.flush();
      assert.equal(s.rec.calls.length, 1);
      const rows = s.rec.calls[0]!.map(({ tokenId, count }) => ({ tokenId, count })).sort((x, y) => y.count - x.count);
      assert.deepEqual(rows, [
        { tokenId: a.id, count: 200 },
        { tokenId: b.id, count: 100 },
      ]);
      await s.app.usage.flush();
      assert.equal(s.rec.calls.length, 1, 'nothing counted, nothing written');
    } finally {
      await s.close();
    }
  });

  it('a failed flush keeps its counts and the next one writes them with the newer ones; the failure is reported once per streak', async () => {
    const clock = testClock();
    const s = await openRecorded(clock);
    try {
      const a = (await s.app.accounts.create('alice')).defaultPublicToken;
      const events: string[] = [];
      s.app.usage.onHealthChange(
        (error) => events.push(`failed: ${(error as Error).message}`),
        () => events.push('recovered'),
      );
      await checks(s.server, a.token!, 5);
      s.rec.failing.on = true;
      assert.equal(await s.app.usage.flush(), false);
      await checks(s.server, a.token!, 2);
      assert.equal(await s.app.usage.flush(), false);
      assert.deepEqual(events, ['failed: the disk is full']);
      s.rec.failing.on = false;
      await checks(s.server, a.token!, 1);
      assert.equal(await s.app.usage.flush(), true);
      assert.deepEqual(events, ['failed: the disk is full', 'recovered']);
      assert.deepEqual(s.rec.calls.at(-1)!.length, 1, 'one row for the token, the retried counts merged in');
      assert.deepEqual(await s.app.store.usageByDay(a.id, utcDay(clock()), utcDay(clock())), [{ day: utcDay(clock()), count: 8 }]);
    } finally {
      await s.close();
    }
  });

  it('after a flush an active token is still served from the cache: no store read, no change-log entry', () =>
    withApp(async (t) => {
      const pk = await t.token('alice', [SCOPE]);
      await checks(t.server, pk.token, 3);
      const reads = t.app.directory.stats.reads;
      const seq = await t.app.store.latestChangeSeq();
      await t.app.usage.flush();
      await t.app.directory.follower.poll();
      await checks(t.server, pk.token, 3);
      assert.equal(t.app.directory.stats.reads, reads);
      assert.equal(await t.app.store.latestChangeSeq(), seq);
      assert.equal(t.app.verifier.check(pk.token, { scope: SCOPE }) instanceof Promise, false, 'judged from the cache, synchronously');
    }));

  it("a flush that meets another connection's write lock waits without holding up requests, then writes everything", () =>
    withApp(async (t, reader) => {
      const pk = await t.token('alice', [SCOPE]);
      await checks(t.server, pk.token, 4);
      const other = new Database(join(t.dataDir, 'tokenbox.db'));
      let settled = false;
      let flushing: Promise<boolean>;
      try {
        other.exec('BEGIN IMMEDIATE');
        flushing = t.app.usage.flush().finally(() => (settled = true));
        // Requests are answered while the flush waits (asynchronously) for the lock.
        await checks(t.server, pk.token, 20);
        assert.equal(settled, false, 'the flush is still waiting for the lock');
      } finally {
        if (other.inTransaction) other.exec('COMMIT');
        other.close();
      }
      await flushing;
      await t.app.usage.flush();
      assert.equal(sum(await analytics(t, reader, pk.id)), 24);
    }));

  it('close() writes what was counted since the last flush, before the store closes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-usage-'));
    try {
      const clock = testClock();
      const app = await openTokenbox(testConfig(dataDir), { clock });
      const pk = (await app.accounts.create('alice')).defaultPublicToken;
      for (let i = 0; i < 9; i++) assert.equal((await app.verifier.verify(pk.token, { scope: SCOPE })).ok, true);
      await app.close();
      const store = openSqliteStore(dataDir);
      try {
        assert.deepEqual(await store.usageByDay(pk.id, 0, utcDay(clock())), [{ day: utcDay(clock()), count: 9 }]);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the counter', () => {
  it('take hands over every count once, merged per token and day; giveBack returns them to the next take', () => {
    const counter = new UsageCounter();
    const d = Date.UTC(2026, 10, 28);
    counter.count('a', d + 5);
    counter.count('a', d + 9);
    counter.count('a', d + DAY_MS + 1);
    counter.count('b', d + 3);
    const taken = counter.take();
    assert.deepEqual(
      taken.sort((x, y) => x.day - y.day || (x.tokenId < y.tokenId ? -1 : 1)),
      [
        { tokenId: 'a', day: d, count: 2, lastUsed: d + 9 },
        { tokenId: 'b', day: d, count: 1, lastUsed: d + 3 },
        { tokenId: 'a', day: d + DAY_MS, count: 1, lastUsed: d + DAY_MS + 1 },
      ],
    );
    assert.deepEqual(counter.take(), []);
    counter.giveBack(taken);
    counter.count('a', d + DAY_MS + 7);
    assert.deepEqual(
      counter.take().find((r) => r.tokenId === 'a' && r.day === d + DAY_MS),
      { tokenId: 'a', day: d + DAY_MS, count: 2, lastUsed: d + DAY_MS + 7 },
    );
  });

  it('flushes never overlap: one asked for while another writes waits, then writes what came since', async () => {
    const counter = new UsageCounter();
    const writes: number[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const flusher = new UsageFlusher(counter, {
      async addUsage(batch) {
        writes.push(batch.reduce((n, r) => n + r.count, 0));
        if (writes.length === 1) await gate;
      },
    });
    counter.count('a', 1_000);
    const first = flusher.flush();
    counter.count('a', 2_000);
    counter.count('a', 3_000);
    const second = flusher.flush();
    await Promise.resolve();
    assert.deepEqual(writes, [1], 'the second waits for the first');
    release();
    assert.deepEqual(await Promise.all([first, second]), [true, true]);
    assert.deepEqual(writes, [1, 2]);
  });
});

describe('serve', () => {
  const dataDir = e2eDataDir('tokenbox-usage-serve-');

  it('SIGTERM loses no counted request: the final flush writes them before the store closes', { timeout: 30_000 }, async () => {
    ensureBuilt();
    const created = await cliJson<{ defaultPublicToken: { id: string; token: string } }>(['accounts', 'create', 'alice', '--data', dataDir]);
    const { id, token } = created.defaultPublicToken;
    // No timer flush during the test: everything written is written by the shutdown.
    const server = await startServer(dataDir, { TOKENBOX_USAGE_FLUSH_MS: '3600000' });
    const n = 25;
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${server.origin}/auth/v1/check?scope=${SCOPE}`, { headers: { 'x-original-uri': `/t?access_token=${token}` } });
      assert.equal(res.status, 200);
    }
    const exit = await stopServer(server, ['SIGTERM']);
    assert.equal(exit.code, 0, server.output());
    const store = openSqliteStore(dataDir);
    try {
      const rows = await store.usageByDay(id, 0, utcDay(Date.now()) + DAY_MS);
      assert.equal(
        rows.reduce((s, r) => s + r.count, 0),
        n,
      );
      assert.notEqual((await store.findTokenById(id))?.lastUsed ?? null, null);
    } finally {
      await store.close();
    }
  });
});

describe('usageFlushMs', () => {
  it('defaults to 5,000 ms; the file, the environment and flags set it; 0, a negative or a non-number is a config error naming it', () => {
    const zero = loadConfig({ env: {} });
    assert.ok(zero.ok);
    assert.equal(zero.config.usageFlushMs, 5_000);
    const set = loadConfig({ env: { TOKENBOX_USAGE_FLUSH_MS: '1000' } });
    assert.ok(set.ok);
    assert.equal(set.config.usageFlushMs, 1_000);
    for (const bad of ['0', '-5', 'soon', '3600001']) {
      const result = loadConfig({ env: { TOKENBOX_USAGE_FLUSH_MS: bad } });
      assert.equal(result.ok, false, bad);
      assert.match(result.ok ? '' : result.errors.join('\n'), /^usageFlushMs: /m, bad);
    }
  });
});
