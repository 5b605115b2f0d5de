/**
 * `GET /analytics/v1/tokens/{username}/{id}` (SPEC §5): the answer's shape, the default period,
 * and every bad input: a period reversed, malformed, longer than a year or in the future; an id of
 * another account or one that never existed; the §4.3 order (401 → No such user → Not found →
 * period → id). The clock is injected: "today" is 2026-11-28 (UTC).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import type { UsageReport } from '../src/services/analytics-service.js';
import { DAY_MS } from '../src/store/port.js';
import { startTestApp, type TestApp } from './helpers/app.js';

const TODAY = '2026-11-28T00:00:00.000Z';

let t: TestApp;
/** alice's sk with analytics:read. */
let reader: string;
/** alice's sk without analytics:read. */
let other: string;
/** A token of alice's, one of bob's. */
let aliceId: string;
let bobId: string;

before(async () => {
  t = await startTestApp({ accountRateLimit: 1_000_000 });
  await t.account('alice');
  await t.account('bob');
  reader = (await t.token('alice', ['analytics:read', 'tokens:write'])).token;
  other = (await t.token('alice', ['tokens:read'])).token;
  const target = await t.token('alice', ['styles:tiles']);
  aliceId = target.id;
  bobId = (await t.token('bob', ['styles:tiles'])).id;
  for (let i = 0; i < 3; i++) assert.equal((await t.app.verifier.verify(target.token, { scope: 'styles:tiles' })).ok, true);
  await t.app.usage.flush();
});
after(() => t?.close());

function get(url: string, token: string | null = reader): Promise<LightMyRequestResponse> {
  return t.server.inject({ url, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
}

function expectError(res: LightMyRequestResponse, status: number, message: string): void {
  assert.equal(res.statusCode, status, res.body);
  assert.deepEqual(res.json(), { message });
}

const iso = (ms: number): string => new Date(ms).toISOString();

describe('200', () => {
  it('without a period: the 90 UTC days ending today, zero-filled, today included', async () => {
    const res = await get(`/analytics/v1/tokens/alice/${aliceId}`);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    const report = res.json<UsageReport>();
    const from = Date.parse(TODAY) - 89 * DAY_MS;
    assert.deepEqual(report.period, [iso(from), TODAY]);
    assert.equal(report.timestamps.length, 90);
    assert.deepEqual(report.timestamps.slice(0, 2), [iso(from), iso(from + DAY_MS)]);
    assert.equal(report.timestamps.at(-1), TODAY);
    assert.deepEqual(report.counts, [...Array<number>(89).fill(0), 3]);
  });

  it('a period is inclusive at both ends; one day is a period; a date-time is read as its UTC day', async () => {
    const three = (await get(`/analytics/v1/tokens/alice/${aliceId}?period=2026-11-26,2026-11-28`)).json<UsageReport>();
    assert.deepEqual(three, {
      period: ['2026-11-26T00:00:00.000Z', TODAY],
      timestamps: ['2026-11-26T00:00:00.000Z', '2026-11-27T00:00:00.000Z', TODAY],
      counts: [0, 0, 3],
    });
    const one = (await get(`/analytics/v1/tokens/alice/${aliceId}?period=2026-11-28T00:00:00.000Z,2026-11-28T12:00:00.000Z`)).json<UsageReport>();
    assert.deepEqual(one, { period: [TODAY, TODAY], timestamps: [TODAY], counts: [3] });
    // 23:30 at UTC-2 on the 27th is 01:30 UTC on the 28th.
    const zoned = (await get(`/analytics/v1/tokens/alice/${aliceId}?period=2026-11-27T23:30:00-02:00,2026-11-28`)).json<UsageReport>();
    assert.deepEqual(zoned.period, [TODAY, TODAY]);
  });

  it('the longest period is 366 days (a leap year too); a token without requests is all zeros', async () => {
    const res = await get(`/analytics/v1/tokens/alice/${aliceId}?period=2025-11-28,2026-11-28`);
    assert.equal(res.statusCode, 200, res.body);
    const report = res.json<UsageReport>();
    assert.equal(report.counts.length, 366);
    assert.equal(report.counts.at(-1), 3);
    const idle = await t.token('alice', ['styles:tiles']);
    assert.deepEqual((await get(`/analytics/v1/tokens/alice/${idle.id}?period=2026-11-27,2026-11-28`)).json<UsageReport>().counts, [0, 0]);
  });

  it('a tk holding analytics:read may read its account', async () => {
    const expires = new Date(t.clock() + 600_000).toISOString();
    const minted = await t.server.inject({
      method: 'POST',
      url: '/tokens/v2/alice',
      headers: { authorization: `Bearer ${reader}` },
      payload: { expires, scopes: ['analytics:read'] },
    });
    assert.equal(minted.statusCode, 200, minted.body);
    assert.equal((await get(`/analytics/v1/tokens/alice/${aliceId}`, minted.json<{ token: string }>().token)).statusCode, 200);
  });
});

describe('422 period is invalid', () => {
  const cases: ReadonlyArray<[string, string]> = [
    ['reversed', '2026-11-28,2026-11-27'],
    ['longer than a year (367 days)', '2025-11-27,2026-11-28'],
    ['ending tomorrow', '2026-11-28,2026-11-29'],
    ['far in the future', '2030-01-01,2030-01-31'],
    ['one date', '2026-11-28'],
    ['three dates', '2026-11-26,2026-11-27,2026-11-28'],
    ['empty', ''],
    ['an empty end', '2026-11-27,'],
    ['not a date', 'yesterday,today'],
    ['no such day', '2026-02-29,2026-03-01'],
    ['a month 13', '2026-13-01,2026-11-28'],
    ['a date-time without a zone', '2026-11-27T10:00:00,2026-11-28'],
    ['unix seconds', '1764288000,1764374400'],
    ['spaces', '2026-11-27, 2026-11-28'],
  ];
  for (const [name, period] of cases) {
    it(name, async () => expectError(await get(`/analytics/v1/tokens/alice/${aliceId}?period=${encodeURIComponent(period)}`), 422, 'period is invalid'));
  }

  it('a repeated period with different values; the same value twice counts once', async () => {
    expectError(await get(`/analytics/v1/tokens/alice/${aliceId}?period=2026-11-27,2026-11-28&period=2026-11-26,2026-11-28`), 422, 'period is invalid');
    assert.equal((await get(`/analytics/v1/tokens/alice/${aliceId}?period=2026-11-27,2026-11-28&period=2026-11-27,2026-11-28`)).statusCode, 200);
  });

  it('is checked before the token id (SPEC §4.3: input, then the id)', async () => {
    expectError(await get(`/analytics/v1/tokens/alice/cnever000000000000000000000?period=2026-11-28,2026-11-27`), 422, 'period is invalid');
  });
});

describe('404 and 401', () => {
  it("an id of another account's token is Not found, whoever asks from this account", async () => {
    expectError(await get(`/analytics/v1/tokens/alice/${bobId}`), 404, 'Not found');
  });

  it('an id that never existed, or is no token id at all, is Not found', async () => {
    expectError(await get('/analytics/v1/tokens/alice/cnever000000000000000000000'), 404, 'Not found');
    expectError(await get('/analytics/v1/tokens/alice/pk.whole-token-strings-are-not-ids'), 404, 'Not found');
  });

  it("a deleted token's analytics are Not found", async () => {
    const doomed = await t.token('alice', ['styles:tiles']);
    assert.equal((await get(`/analytics/v1/tokens/alice/${doomed.id}`)).statusCode, 200);
    assert.equal(
      (await t.server.inject({ method: 'DELETE', url: `/tokens/v2/alice/${doomed.id}`, headers: { authorization: `Bearer ${reader}` } })).statusCode,
      204,
    );
    expectError(await get(`/analytics/v1/tokens/alice/${doomed.id}`), 404, 'Not found');
  });

  it('without analytics:read: Not found (never 403); another account in the path: Not found; an unknown account: No such user', async () => {
    expectError(await get(`/analytics/v1/tokens/alice/${aliceId}`, other), 404, 'Not found');
    expectError(await get(`/analytics/v1/tokens/bob/${bobId}`), 404, 'Not found');
    expectError(await get(`/analytics/v1/tokens/nobody/${aliceId}`), 404, 'No such user');
  });

  it('no token, or a forged one: 401 before anything else, a bad period included', async () => {
    expectError(await get(`/analytics/v1/tokens/alice/${aliceId}?period=nonsense`, null), 401, 'Unauthorized');
    expectError(await get(`/analytics/v1/tokens/nobody/${aliceId}`, `${reader.slice(0, -1)}${reader.endsWith('A') ? 'B' : 'A'}`), 401, 'Unauthorized');
  });
});
