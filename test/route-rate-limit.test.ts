/**
 * Per-route rate limits (SPEC §7 `routes[].rateLimit`, issue 8 part 4): requests per 60 s per
 * account on one rule, counted after verification, the same through forward auth (every style)
 * and the gateway. And `tokenRateLimit`, the per-token ceiling, off by default.
 *
 * - The limit holds per account (an account's tokens share it; another account has its own; each
 *   rule has its own), and the next window starts afresh.
 * - A 429 carries Retry-After and X-Rate-Limit-Interval/-Limit/-Reset describing the limit that
 *   refused it (the route's or the token's).
 * - Refusals spend nothing: no token, a missing scope, and forged tokens naming a real id.
 * - With the default config, a pk used 10,000 times in a minute on a rule without `rateLimit` is
 *   never refused.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { startTestApp, type TestApp } from './helpers/app.js';

const LIMIT = 3;

type Way = 'envoy' | 'nginx' | 'nginx-scope-param' | 'gateway';
const WAYS: readonly Way[] = ['envoy', 'nginx', 'nginx-scope-param', 'gateway'];

let upstream: Server;
let upstreamPort: number;
let upstreamHits = 0;

before(async () => {
  upstream = createServer((req, res) => {
    upstreamHits++;
    req.resume();
    res.end('tile');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamPort = (upstream.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

function routes(extra: Record<string, unknown> = {}): unknown[] {
  const up = `http://127.0.0.1:${upstreamPort}`;
  return [
    { path: '/tiles/*', scope: 'styles:tiles', upstream: up, rateLimit: LIMIT, ...extra },
    { path: '/fonts/*', scope: 'fonts:read', upstream: up, rateLimit: LIMIT },
    { path: '/free/*', scope: 'styles:tiles', upstream: up },
  ];
}

/** One request to `path` with `token` (in `access_token`), through `way`. */
function ask(t: TestApp, way: Way, path: string, token: string | undefined): Promise<LightMyRequestResponse> {
  const uri = token === undefined ? path : `${path}?access_token=${encodeURIComponent(token)}`;
  switch (way) {
    case 'gateway':
      return t.server.inject({ url: uri });
    case 'envoy':
      return t.server.inject({ url: `/auth/v1/check${uri}` });
    case 'nginx':
      return t.server.inject({ url: '/auth/v1/check', headers: { 'x-original-uri': uri, 'x-original-method': 'GET' } });
    case 'nginx-scope-param':
      // The proxy names the scope; the matching rule's limit applies all the same.
      return t.server.inject({ url: '/auth/v1/check?scope=styles:tiles', headers: { 'x-original-uri': uri, 'x-original-method': 'GET' } });
  }
}

function rateHeaders(res: LightMyRequestResponse): Record<string, unknown> {
  const h = res.headers;
  return { retryAfter: h['retry-after'], interval: h['x-rate-limit-interval'], limit: h['x-rate-limit-limit'], reset: h['x-rate-limit-reset'] };
}

function forge(token: string): string {
  const [usage, payload, secret] = token.split('.') as [string, string, string];
  return `${usage}.${payload}.${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
}

interface World {
  readonly t: TestApp;
  readonly alicePk: string;
  readonly aliceSk: string;
  readonly bobPk: string;
}

async function world(overrides: Record<string, unknown> = {}): Promise<World> {
  const t = await startTestApp({ routes: routes(), ...overrides });
  const alicePk = (await t.account('alice')).token as string;
  const aliceSk = (await t.token('alice', ['styles:tiles', 'fonts:read', 'map:read'])).token;
  const bobPk = (await t.account('bob')).token as string;
  // 23 s into a window: Retry-After is the rest of it.
  t.clock.advance(23_000);
  return { t, alicePk, aliceSk, bobPk };
}

for (const way of WAYS) {
  describe(`route rateLimit through ${way}`, () => {
    let w: World;
    before(async () => {
      w = await world();
    });
    after(() => w?.t.close());

    it('holds per account and per rule, with Retry-After and X-Rate-Limit-* describing it; the next window starts afresh', async () => {
      const nowS = Math.floor(w.t.clock() / 1000);
      const reset = nowS - (nowS % 60) + 60;
      // Refusals first: none of them spends alice's allowance.
      for (let i = 0; i < 20; i++) {
        assert.equal((await ask(w.t, way, '/tiles/1', forge(w.alicePk))).statusCode, 401, 'forged');
        assert.equal((await ask(w.t, way, '/tiles/1', undefined)).statusCode, 401, 'no token');
      }
      const noScope = await w.t.token('alice', ['styles:read']);
      for (let i = 0; i < 5; i++) assert.equal((await ask(w.t, way, '/tiles/1', noScope.token)).statusCode, 403, 'missing scope');
      // alice's pk and sk share the account's LIMIT on /tiles/*.
      const hitsBefore = upstreamHits;
      for (const token of [w.alicePk, w.aliceSk, w.alicePk]) assert.equal((await ask(w.t, way, '/tiles/1', token)).statusCode, 200);
      for (const token of [w.aliceSk, w.alicePk]) {
        const limited = await ask(w.t, way, '/tiles/2', token);
        assert.equal(limited.statusCode, 429);
        assert.deepEqual(limited.json(), { message: 'Too Many Requests' });
        assert.deepEqual(rateHeaders(limited), { retryAfter: String(reset - nowS), interval: '60', limit: String(LIMIT), reset: String(reset) });
        if (way !== 'gateway') assert.equal(limited.headers['x-tokenbox-status'], '429');
      }
      if (way === 'gateway') assert.equal(upstreamHits, hitsBefore + LIMIT, 'a 429 never reaches the upstream');
      // Another account, and another rule, have their own buckets; a rule without rateLimit has none.
      assert.equal((await ask(w.t, way, '/tiles/1', w.bobPk)).statusCode, 200);
      assert.equal((await ask(w.t, way, '/fonts/1', w.aliceSk)).statusCode, 200);
      assert.equal((await ask(w.t, way, '/free/1', w.alicePk)).statusCode, 200);
      // The next window.
      w.t.clock.advance((reset - nowS) * 1000);
      assert.equal((await ask(w.t, way, '/tiles/1', w.alicePk)).statusCode, 200);
    });
  });
}

describe('route rateLimit and tokenRateLimit together: the 429 describes the limit that refused', () => {
  it('the per-token ceiling refuses first (its limit in the headers), and what it refuses is not counted on the route', async () => {
    // tokenRateLimit 2 per token; the route allows 3 per account.
    const w = await world({ tokenRateLimit: 2 });
    try {
      const nowS = Math.floor(w.t.clock() / 1000);
      const reset = nowS - (nowS % 60) + 60;
      for (const way of ['gateway', 'envoy'] as const) {
        const t = w.t;
        if (way === 'envoy') t.clock.advance((reset - nowS) * 1000);
        const start = Math.floor(t.clock() / 1000);
        const windowEnd = start - (start % 60) + 60;
        assert.equal((await ask(t, way, '/tiles/1', w.alicePk)).statusCode, 200);
        assert.equal((await ask(t, way, '/tiles/1', w.alicePk)).statusCode, 200);
        const byToken = await ask(t, way, '/tiles/1', w.alicePk);
        assert.equal(byToken.statusCode, 429);
        assert.deepEqual(
          rateHeaders(byToken),
          { retryAfter: String(windowEnd - start), interval: '60', limit: '2', reset: String(windowEnd) },
          `${way}: the token's ceiling`,
        );
        // The route counted 2 of alice's 3: one more passes (with the sk), then the route refuses.
        assert.equal((await ask(t, way, '/tiles/1', w.aliceSk)).statusCode, 200);
        const byRoute = await ask(t, way, '/tiles/1', w.aliceSk);
        assert.equal(byRoute.statusCode, 429);
        assert.equal(byRoute.headers['x-rate-limit-limit'], String(LIMIT), `${way}: the route's limit`);
      }
    } finally {
      await w.t.close();
    }
  });
});

describe('the default config: no per-token ceiling', () => {
  it('a pk used 10,000 times in a minute on a rule without rateLimit is never refused (forward auth and the verifier)', async () => {
    const w = await world();
    try {
      assert.equal(w.t.app.config.tokenRateLimit, undefined);
      const started = w.t.clock();
      for (let i = 0; i < 10_000; i++) {
        const res = await w.t.server.inject({ url: `/auth/v1/check/free/${i}?access_token=${w.alicePk}` });
        if (res.statusCode !== 200) assert.fail(`request ${i}: ${res.statusCode} ${res.body}`);
        const verdict = await w.t.app.verifier.verify(w.alicePk, { scope: 'styles:tiles' });
        if (!verdict.ok) assert.fail(`verify ${i}: ${verdict.message}`);
      }
      assert.equal(w.t.clock(), started, 'all within one window');
    } finally {
      await w.t.close();
    }
  });

  it('2,000 requests of one pk through the gateway on a rule without rateLimit all pass', async () => {
    const w = await world();
    try {
      const before = upstreamHits;
      for (let i = 0; i < 2_000; i++) {
        const res = await w.t.server.inject({ url: `/free/${i}?access_token=${w.alicePk}` });
        if (res.statusCode !== 200) assert.fail(`request ${i}: ${res.statusCode} ${res.body}`);
      }
      assert.equal(upstreamHits, before + 2_000);
    } finally {
      await w.t.close();
    }
  });
});
