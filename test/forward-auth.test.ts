/**
 * Forward auth (SPEC §5, way in 2; errors in docs/errors.md): `/auth/v1/check` as nginx
 * `auth_request` (X-Original-URI, the scope on the auth URL), Traefik `forwardAuth`
 * (X-Forwarded-Uri/-Method/-Host) and Envoy `ext_authz` (the path after /auth/v1/check, the
 * request's own method, the scope from route rules).
 *
 * - Parity: every row of the verifier's verdict table gets the same verdict through the verifier
 *   and through each of the three styles (status, `{message}`, X-Tokenbox-Status/-Message; on 200
 *   an empty body and X-Tokenbox-User/-Token-Id/-Usage), the 429 included.
 * - Any method; OPTIONS is a request to check, never a CORS preflight.
 * - Route rules pick the scope (config order, globs, methods); nothing names one: 403 (fail closed).
 * - Nothing a client sends picks the scope or the identity.
 * - Bad input from the proxy is a documented 4xx, never a 500 and never a 200.
 * - A successful check writes no log line; no log line ever holds a token.
 */
import assert from 'node:assert/strict';
import { METHODS as NODE_METHODS, request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildServer } from '../src/http/server.js';
import type { Verdict } from '../src/verification/verifier.js';
import { useForSuite, type TestApp } from './helpers/app.js';
import { forge, mintTk, PUBLIC_SCOPE, VERDICT_ROWS, verdictWorld, type ExpectedVerdict, type VerdictWorld } from './helpers/verdict-world.js';
import { rawExchange } from './helpers/raw-http.js';
import { checkRequest, originalUri, ROUTES, rowCheck, STYLES, type Check, type Style } from './helpers/check-requests.js';

type Observed = { ok: true; user: string; tokenId: string; usage: string } | { ok: false; status: number; message: string };

/**
 * The verdict a check answered, after asserting the answer is internally consistent: a refusal
 * has `{message}` and the same status and message in X-Tokenbox-Status/-Message and no identity;
 * a pass has an empty body and the three identity headers.
 */
function observe(res: LightMyRequestResponse, context: string, method = 'GET'): Observed {
  const h = res.headers;
  if (res.statusCode === 200) {
    assert.equal(res.body, '', `${context}: a 200 has an empty body`);
    assert.equal(h['x-tokenbox-status'], undefined, `${context}: X-Tokenbox-Status on a 200`);
    for (const name of ['x-tokenbox-user', 'x-tokenbox-token-id', 'x-tokenbox-usage']) {
      assert.equal(typeof h[name], 'string', `${context}: ${name} missing on a 200`);
    }
    return { ok: true, user: String(h['x-tokenbox-user']), tokenId: String(h['x-tokenbox-token-id']), usage: String(h['x-tokenbox-usage']) };
  }
  const message = String(h['x-tokenbox-message']);
  assert.equal(h['x-tokenbox-status'], String(res.statusCode), `${context}: X-Tokenbox-Status`);
  if (method !== 'HEAD') assert.deepEqual(res.json(), { message }, `${context}: the body is {message} with X-Tokenbox-Message`);
  for (const name of ['x-tokenbox-user', 'x-tokenbox-token-id', 'x-tokenbox-usage']) {
    assert.equal(h[name], undefined, `${context}: ${name} on a refusal`);
  }
  return { ok: false, status: res.statusCode, message };
}

function project(verdict: ExpectedVerdict | Verdict): Observed {
  return verdict.ok
    ? { ok: true, user: verdict.user, tokenId: verdict.tokenId, usage: verdict.usage }
    : { ok: false, status: verdict.status, message: verdict.message };
}

function refusal(status: number, message: string): Observed {
  return { ok: false, status, message };
}

const requires = (scope: string): Observed => refusal(403, `This endpoint requires a token with ${scope} scope`);
const FORBIDDEN = refusal(403, 'Forbidden');
const NO_TOKEN = refusal(401, 'Not Authorized - No Token');
const INVALID_TOKEN = refusal(401, 'Not Authorized - Invalid Token');
const URI_INVALID = refusal(400, 'Original URI is invalid');
const URI_REQUIRED = refusal(400, 'Original URI is required');
const SCOPE_INVALID = refusal(400, 'scope is invalid');

/** The check for a verdict-table row: the table's scope from the auth URL, or Envoy's route. */
interface ExtraTokens {
  /** A pk holding only styles:tiles. */
  readonly tiles: { token: string; id: string };
  /** An sk holding every scope the route table names. */
  readonly all: { token: string; id: string };
}

async function extraTokens(t: TestApp): Promise<ExtraTokens> {
  const tiles = await t.token('alice', ['styles:tiles']);
  const all = await t.token('alice', ['styles:tiles', 'styles:read', 'datasets:read', 'map:read', 'map:write']);
  return { tiles: { token: tiles.token, id: tiles.id }, all: { token: all.token, id: all.id } };
}

// -------------------------------------------------------------------------------------------------

describe('parity: every verdict row, through the verifier and each forward-auth style', () => {
  let w: VerdictWorld;
  before(async () => {
    w = await verdictWorld({ routes: ROUTES, tokenRateLimit: 1_000_000 });
  });
  after(() => w?.t.close());

  for (const spec of VERDICT_ROWS) {
    describe(spec.name, () => {
      it('verifier', async () => {
        const row = w.row(spec.name);
        assert.deepEqual(project(await w.t.app.verifier.verify(row.token, row.request)), project(row.expect));
      });
      for (const style of STYLES) {
        it(style, async () => {
          const row = w.row(spec.name);
          const res = await w.t.server.inject(checkRequest(style, rowCheck(style, row)));
          const seen = observe(res, `${style} ${row.name}`);
          assert.deepEqual(seen, project(row.expect));
          assert.deepEqual(seen, project(await w.t.app.verifier.verify(row.token, row.request)));
        });
      }
    });
  }
});

describe('parity: the per-token rate limit (429 Too Many Requests, Retry-After, X-Rate-Limit-*)', () => {
  const LIMIT = 2;
  for (const way of ['verifier', ...STYLES] as const) {
    it(`${way}: ${LIMIT} pass, then 429 with Retry-After; forged strings spend nothing; a tk spends its p's budget`, async () => {
      const w = await verdictWorld({ routes: ROUTES, tokenRateLimit: LIMIT });
      try {
        w.t.clock.advance(23_000);
        const retryAfter = 60 - (Math.floor(w.t.clock() / 1000) % 60);
        const ask = async (token: string): Promise<{ seen: Observed; retryAfter: string | undefined }> => {
          if (way === 'verifier') {
            const verdict = await w.t.app.verifier.verify(token, { scope: PUBLIC_SCOPE });
            return { seen: project(verdict), retryAfter: !verdict.ok && verdict.retryAfter !== undefined ? String(verdict.retryAfter) : undefined };
          }
          const check: Check = way === 'envoy' ? { path: `/need/${PUBLIC_SCOPE}/x`, token } : { path: '/plain/x', token, scopeParam: PUBLIC_SCOPE };
          const res = await w.t.server.inject(checkRequest(way, check));
          const h = res.headers['retry-after'];
          if (res.statusCode === 429) {
            // The limit that refused: the token's ceiling, its window's end.
            const resetS = Math.floor(w.t.clock() / 1000) + retryAfter;
            assert.deepEqual(
              [res.headers['x-rate-limit-interval'], res.headers['x-rate-limit-limit'], res.headers['x-rate-limit-reset']],
              ['60', String(LIMIT), String(resetS)],
            );
          } else assert.equal(res.headers['x-rate-limit-limit'], undefined);
          return { seen: observe(res, way), retryAfter: typeof h === 'string' ? h : undefined };
        };
        for (let i = 0; i < 20; i++) assert.deepEqual((await ask(forge(w.tokens.sk.token))).seen, INVALID_TOKEN);
        assert.equal((await ask(w.tokens.sk.token)).seen.ok, true);
        assert.equal((await ask(w.tokens.tk)).seen.ok, true);
        for (const token of [w.tokens.tk, w.tokens.sk.token]) {
          const limited = await ask(token);
          assert.deepEqual(limited.seen, refusal(429, 'Too Many Requests'));
          assert.equal(limited.retryAfter, String(retryAfter));
        }
        // Another token's budget is its own; the next window starts afresh.
        assert.equal((await ask(w.tokens.defaultPk.token)).seen.ok, true);
        w.t.clock.advance(retryAfter * 1000);
        assert.equal((await ask(w.tokens.sk.token)).seen.ok, true);
      } finally {
        await w.t.close();
      }
    });
  }
});

// -------------------------------------------------------------------------------------------------

describe('any method, in every style; OPTIONS is a check, not a CORS preflight', () => {
  let w: VerdictWorld;
  let x: ExtraTokens;
  useWorldWithTokens((world) => ({ w, x } = world));

  const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];
  for (const style of STYLES) {
    for (const method of METHODS) {
      it(`${style} ${method}`, async () => {
        const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? { payload: 'plain text, not JSON', contentType: 'text/plain' } : {};
        // A browser-like preflight shape: it must still be answered as a check.
        const headers = { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' };
        const pass = await w.t.server.inject(checkRequest(style, { method, path: '/any/x', token: x.tiles.token, headers, ...body }));
        assert.deepEqual(observe(pass, `${style} ${method} pass`, method), { ok: true, user: 'alice', tokenId: x.tiles.id, usage: 'pk' });
        const refused = await w.t.server.inject(checkRequest(style, { method, path: '/any/x', headers, ...body }));
        assert.deepEqual(observe(refused, `${style} ${method} refusal`, method), NO_TOKEN);
        for (const res of [pass, refused]) {
          for (const name of Object.keys(res.headers)) assert.ok(!name.startsWith('access-control-'), `${style} ${method}: CORS header ${name}`);
        }
      });
    }
    it(`${style}: a body of any type and size is never read and never changes the verdict`, async () => {
      const bodies = [
        { payload: '{not json', contentType: 'application/json' },
        { payload: Buffer.alloc(1024 * 1024, 7), contentType: 'application/octet-stream' },
        { payload: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--', contentType: 'multipart/form-data; boundary=x' },
      ];
      for (const body of bodies) {
        const res = await w.t.server.inject(checkRequest(style, { method: 'POST', path: '/any/x', token: x.tiles.token, ...body }));
        assert.deepEqual(observe(res, `${style} ${body.contentType}`), { ok: true, user: 'alice', tokenId: x.tiles.id, usage: 'pk' });
      }
    });
  }
});

// -------------------------------------------------------------------------------------------------

describe('route rules pick the scope (config order, globs, methods); no rule and no scope: 403', () => {
  let w: VerdictWorld;
  let x: ExtraTokens;
  useWorldWithTokens((world) => ({ w, x } = world));

  type Case = readonly [
    method: string,
    path: string,
    token: (k: ExtraTokens, w: VerdictWorld) => string,
    expect: (k: ExtraTokens, w: VerdictWorld) => Observed,
  ];
  const ok =
    (which: 'tiles' | 'all' | 'default', usage = which === 'all' ? 'sk' : 'pk') =>
    (k: ExtraTokens, wd: VerdictWorld): Observed => ({
      ok: true,
      user: 'alice',
      tokenId: which === 'default' ? wd.tokens.defaultPk.id : k[which].id,
      usage,
    });
  const tiles = (k: ExtraTokens) => k.tiles.token;
  const all = (k: ExtraTokens) => k.all.token;
  const dflt = (_k: ExtraTokens, wd: VerdictWorld) => wd.tokens.defaultPk.token;
  const CASES: readonly Case[] = [
    ['GET', '/tiles/1/2/3.png', tiles, ok('tiles')],
    ['HEAD', '/tiles/1/2/3.png', tiles, ok('tiles')],
    ['GET', '/tiles/', tiles, ok('tiles')],
    ['GET', '/tiles/a/info', tiles, () => requires('styles:read')], // the first matching rule wins
    ['GET', '/tiles/a/info', dflt, ok('default')],
    ['GET', '/tiles/a/b/info', tiles, ok('tiles')], // an inner * is exactly one segment
    ['DELETE', '/tiles/1', tiles, () => requires('map:write')],
    ['DELETE', '/tiles/1', all, ok('all')],
    ['POST', '/tiles/1', all, () => FORBIDDEN], // no rule for POST: fail closed
    ['GET', '/tiles', tiles, ok('tiles')], // `/tiles/*` covers `/tiles` itself
    ['GET', '/geocode/v1/paris.json', dflt, ok('default')],
    ['GET', '/geocode/v1/paris.json?limit=1', dflt, ok('default')],
    ['GET', '/geocode/v1/a/b.json', all, () => FORBIDDEN],
    ['GET', '/geocode/v1/parisXjson', all, () => FORBIDDEN],
    ['GET', '/private/x', dflt, () => requires('map:read')],
    ['GET', '/private/x', all, ok('all')],
    ['GET', '/nowhere', all, () => FORBIDDEN],
    ['GET', '/', all, () => FORBIDDEN],
  ];
  for (const style of STYLES) {
    for (const [method, path, token, expect] of CASES) {
      it(`${style} ${method} ${path}`, async () => {
        const res = await w.t.server.inject(checkRequest(style, { method, path, token: token(x, w) }));
        assert.deepEqual(observe(res, `${style} ${method} ${path}`, method), expect(x, w));
      });
    }
    it(`${style}: no rule and no scope parameter refuses a request without a token too (never 200)`, async () => {
      const res = await w.t.server.inject(checkRequest(style, { path: '/nowhere' }));
      assert.ok(res.statusCode === 401 || res.statusCode === 403, `status ${res.statusCode}`);
      observe(res, style);
    });
  }
  for (const style of ['nginx', 'traefik'] as const) {
    it(`${style}: the auth URL's scope parameter wins over the route rules`, async () => {
      const looser = await w.t.server.inject(checkRequest(style, { path: '/private/x', token: w.tokens.defaultPk.token, scopeParam: PUBLIC_SCOPE }));
      assert.deepEqual(observe(looser, style), ok('default')(x, w));
      const stricter = await w.t.server.inject(checkRequest(style, { path: '/public/x', token: x.tiles.token, scopeParam: 'map:write' }));
      assert.deepEqual(observe(stricter, style), requires('map:write'));
    });
  }
});

// -------------------------------------------------------------------------------------------------

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}

/** GET with the path exactly as given (fetch and inject would resolve dot segments first). */
function getRawPath(port: number, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function listen(server: FastifyInstance): Promise<number> {
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  return Number(new URL(address).port);
}

/** The verdict world with the extra tokens, as most suites here need it. */
async function worldWithTokens(): Promise<{ w: VerdictWorld; x: ExtraTokens }> {
  const w = await verdictWorld({ routes: ROUTES, tokenRateLimit: 1_000_000 });
  return { w, x: await extraTokens(w.t) };
}

/** worldWithTokens for the enclosing suite (opened before its tests, closed after). */
function useWorldWithTokens(set: (world: { w: VerdictWorld; x: ExtraTokens }) => void): void {
  useForSuite(worldWithTokens, ({ w }) => w.t.close(), set);
}

/** listeningWorld for the enclosing suite (opened before its tests, closed after). */
function useListeningWorld(set: (world: { w: VerdictWorld; x: ExtraTokens; port: number }) => void): void {
  useForSuite(listeningWorld, ({ w }) => w.t.close(), set);
}

/** The same, listening on a real port (for raw sockets and fetch). */
async function listeningWorld(): Promise<{ w: VerdictWorld; x: ExtraTokens; port: number }> {
  const { w, x } = await worldWithTokens();
  return { w, x, port: await listen(w.t.server) };
}

describe('forging: a client picks neither the scope nor the identity', () => {
  let w: VerdictWorld;
  let x: ExtraTokens;
  let port: number;
  useListeningWorld((world) => ({ w, x, port } = world));

  const FORGED_HEADERS = {
    'x-tokenbox-user': 'mallory',
    'x-tokenbox-token-id': 'c000000000000000000000000',
    'x-tokenbox-usage': 'sk',
    'x-tokenbox-status': '200',
    'x-tokenbox-message': 'OK',
  };

  for (const style of STYLES) {
    it(`${style}: X-Tokenbox-User/-Token-Id/-Usage/-Status request headers are ignored`, async () => {
      const pass = await w.t.server.inject(checkRequest(style, { path: '/public/x', token: x.tiles.token, headers: FORGED_HEADERS }));
      assert.deepEqual(observe(pass, style), { ok: true, user: 'alice', tokenId: x.tiles.id, usage: 'pk' });
      const none = await w.t.server.inject(checkRequest(style, { path: '/public/x', headers: FORGED_HEADERS }));
      assert.deepEqual(observe(none, style), NO_TOKEN);
      const short = await w.t.server.inject(checkRequest(style, { path: '/private/x', token: x.tiles.token, headers: FORGED_HEADERS }));
      assert.deepEqual(observe(short, style), requires('map:read'));
    });
  }

  for (const style of ['nginx', 'traefik'] as const) {
    it(`${style}: a scope parameter inside the original URI is ignored`, async () => {
      const cases: ReadonlyArray<[Check, Observed]> = [
        [{ path: '/plain/x?scope=styles:tiles', token: x.tiles.token, scopeParam: 'map:read' }, requires('map:read')],
        [{ path: '/plain/x?scope=styles:tiles', token: x.tiles.token }, FORBIDDEN],
        [{ path: '/private/x?scope=styles:tiles', token: x.tiles.token }, requires('map:read')],
      ];
      for (const [check, expected] of cases) {
        assert.deepEqual(observe(await w.t.server.inject(checkRequest(style, check)), `${style} ${check.path}`), expected);
      }
    });
  }

  it("envoy: the query is the client's, so a scope parameter there is ignored (the route rules decide)", async () => {
    const ruled = await w.t.server.inject(checkRequest('envoy', { path: '/private/x?scope=styles:tiles', token: x.tiles.token }));
    assert.deepEqual(observe(ruled, 'envoy'), requires('map:read'));
    const unruled = await w.t.server.inject(checkRequest('envoy', { path: '/plain/x?scope=styles:tiles', token: x.all.token }));
    assert.deepEqual(observe(unruled, 'envoy'), FORBIDDEN);
  });

  const DOT_TRICKS = [
    '/public/../private/x',
    '/public/%2e%2e/private/x',
    '/public/%2E%2E/private/x',
    '/public/./../private/x',
    '/public/a/../../private/x',
    '/public/.%2e/private/x',
  ];

  for (const style of ['nginx', 'traefik'] as const) {
    it(`${style}: /public/../private tricks are checked against the normalised path`, async () => {
      // Control: the same token passes /public/*, so a pass below would be the trick working.
      assert.equal(observe(await w.t.server.inject(checkRequest(style, { path: '/public/x', token: x.tiles.token })), style).ok, true);
      for (const path of DOT_TRICKS) {
        assert.deepEqual(observe(await w.t.server.inject(checkRequest(style, { path, token: x.tiles.token })), `${style} ${path}`), requires('map:read'), path);
      }
    });
  }

  it('envoy (raw HTTP, so nothing resolves the dots before tokenbox): /public/../private tricks use the normalised path', async () => {
    const token = encodeURIComponent(x.tiles.token);
    const control = await getRawPath(port, `/auth/v1/check/public/x?access_token=${token}`);
    assert.equal(control.status, 200);
    for (const path of DOT_TRICKS) {
      const res = await getRawPath(port, `/auth/v1/check${path}?access_token=${token}`);
      assert.equal(res.status, 403, `${path}: ${res.body}`);
      assert.deepEqual(JSON.parse(res.body), { message: 'This endpoint requires a token with map:read scope' });
      assert.equal(res.headers['x-tokenbox-user'], undefined);
    }
  });

  for (const style of ['nginx', 'traefik'] as const) {
    it(`${style}: /public//../private (an empty segment before the dots) is not given the scope of /public/*`, async () => {
      const res = await w.t.server.inject(checkRequest(style, { path: '/public//../private/x', token: x.tiles.token }));
      assert.notEqual(res.statusCode, 200, 'a /public/* token passed a path proxies route to /private/x');
    });
  }

  it('traefik: a client-sent X-Original-URI does not replace the X-Forwarded-Uri Traefik set (Traefik passes every client header to forwardAuth by default)', async () => {
    const res = await w.t.server.inject(
      checkRequest('traefik', {
        path: '/private/x',
        token: x.tiles.token,
        headers: { 'x-original-uri': `/public/x?access_token=${encodeURIComponent(x.tiles.token)}` },
      }),
    );
    assert.notEqual(res.statusCode, 200, 'the check passed for /private/x with a styles:tiles token');
    assert.equal(res.headers['x-tokenbox-user'], undefined);
  });

  it("envoy: a client-sent X-Forwarded-Uri (passed on when Envoy's allowed_headers lets it) does not make the client's query the proxy's scope", async () => {
    const token = encodeURIComponent(x.tiles.token);
    const res = await w.t.server.inject({
      method: 'GET',
      url: `/auth/v1/check/private/x?scope=styles:tiles&access_token=${token}`,
      headers: { 'x-forwarded-uri': `/private/x?access_token=${token}` },
    });
    assert.notEqual(res.statusCode, 200, 'the client chose the scope');
  });
});

// -------------------------------------------------------------------------------------------------

describe('bad input from the proxy: a documented 4xx, never a 500 and never a 200', () => {
  let w: VerdictWorld;
  let x: ExtraTokens;
  let port: number;
  useListeningWorld((world) => ({ w, x, port } = world));

  for (const style of STYLES) {
    it(`${style}: a repeated access_token in the original URI is 401 Invalid Token (even the same value twice)`, async () => {
      const t = encodeURIComponent(x.tiles.token);
      for (const query of [`access_token=${t}&access_token=${t}`, `access_token=${t}&access_token=${encodeURIComponent(x.all.token)}`]) {
        const res = await w.t.server.inject(checkRequest(style, { path: `/public/x?${query}`, scopeParam: style === 'envoy' ? undefined : PUBLIC_SCOPE }));
        assert.deepEqual(observe(res, style), INVALID_TOKEN);
      }
    });

    it(`${style}: a 5 KB access_token (over the 4 KB token limit) is 401 Invalid Token`, async () => {
      const long = `pk.${'A'.repeat(5 * 1024)}.${'A'.repeat(22)}`;
      const res = await w.t.server.inject(checkRequest(style, { path: '/public/x', token: long, scopeParam: style === 'envoy' ? undefined : PUBLIC_SCOPE }));
      assert.deepEqual(observe(res, style), INVALID_TOKEN);
    });

    it(`${style}: a 10 KB access_token in the original URI is refused with a documented 4xx (400 Original URI is invalid: over 8 KiB)`, async () => {
      const long = `pk.${'A'.repeat(10 * 1024)}.${'A'.repeat(22)}`;
      const res = await w.t.server.inject(checkRequest(style, { path: '/public/x', token: long, scopeParam: style === 'envoy' ? undefined : PUBLIC_SCOPE }));
      assert.deepEqual(observe(res, style), URI_INVALID);
    });

    it(`${style}: a 10 KB token in Authorization: Bearer is 401 Invalid Token`, async () => {
      const long = `pk.${'A'.repeat(10 * 1024)}.${'A'.repeat(22)}`;
      const res = await w.t.server.inject(
        checkRequest(style, { path: '/public/x', token: long, viaBearer: true, scopeParam: style === 'envoy' ? undefined : PUBLIC_SCOPE }),
      );
      assert.deepEqual(observe(res, style), INVALID_TOKEN);
    });
  }

  for (const style of ['nginx', 'traefik'] as const) {
    it(`${style}: invalid percent-encoding in the original URI is 400 Original URI is invalid`, async () => {
      for (const path of ['/public/%zz', '/public/x%', '/public/%4', '/public/x?q=%G1']) {
        const res = await w.t.server.inject(checkRequest(style, { path, token: x.tiles.token }));
        assert.deepEqual(observe(res, `${style} ${path}`), URI_INVALID);
      }
    });

    it(`${style}: an original URI that is not origin-form is 400 Original URI is invalid`, async () => {
      for (const uri of ['http://evil.example/public/x', 'https://api.example.com/public/x', '//evil.example/public/x', 'public/x', '*']) {
        const res = await w.t.server.inject(checkRequest(style, { path: uri, token: x.tiles.token }));
        assert.deepEqual(observe(res, `${style} ${uri}`), URI_INVALID);
      }
    });

    it(`${style}: the auth URL's scope parameter repeated, empty or not a scope id is 400 scope is invalid`, async () => {
      for (const scopeParam of [['styles:tiles', 'map:read'], ['styles:tiles', 'styles:tiles'], [''], ['Styles:Tiles'], ['styles']]) {
        const res = await w.t.server.inject(checkRequest(style, { path: '/public/x', token: x.tiles.token, scopeParam }));
        assert.deepEqual(observe(res, `${style} ${scopeParam.join('&')}`), SCOPE_INVALID);
      }
    });
  }

  it('envoy: invalid percent-encoding in the path is 400 Original URI is invalid (docs/errors.md), with X-Tokenbox-Status', async () => {
    const res = await w.t.server.inject({ method: 'GET', url: `/auth/v1/check/public/%zz?access_token=${encodeURIComponent(x.tiles.token)}` });
    assert.deepEqual(observe(res, 'envoy %zz'), URI_INVALID);
  });

  it('envoy: invalid percent-encoding in the path is never a 200 or a 500', async () => {
    const res = await w.t.server.inject({ method: 'GET', url: `/auth/v1/check/public/%zz?access_token=${encodeURIComponent(x.tiles.token)}` });
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, `status ${res.statusCode}`);
  });

  it('no original URI at all is 400 Original URI is required', async () => {
    const requests: InjectOptions[] = [
      { method: 'GET', url: '/auth/v1/check' },
      { method: 'GET', url: `/auth/v1/check?scope=${PUBLIC_SCOPE}` },
      { method: 'GET', url: `/auth/v1/check?access_token=${encodeURIComponent(x.tiles.token)}` },
      { method: 'POST', url: '/auth/v1/check', headers: { authorization: `Bearer ${x.tiles.token}` } },
      { method: 'GET', url: '/auth/v1/check', headers: { 'x-original-uri': '' } },
      { method: 'GET', url: '/auth/v1/check', headers: { 'x-forwarded-uri': '' } },
    ];
    for (const request of requests) {
      assert.deepEqual(observe(await w.t.server.inject(request), JSON.stringify(request)), URI_REQUIRED);
    }
  });

  it('control characters in the forwarded headers (raw socket): 400, never 200', async () => {
    const token = encodeURIComponent(x.tiles.token);
    const send = (headers: string) =>
      rawExchange(port, `GET /auth/v1/check?scope=${PUBLIC_SCOPE} HTTP/1.1\r\nHost: tokenbox\r\n${headers}Connection: close\r\n\r\n`);
    // Control: the clean request passes, so a 200 below would be the control characters slipping through.
    assert.equal(statusOf(await send(`X-Original-URI: /public/x?access_token=${token}\r\n`)), 200);
    assert.equal(statusOf(await send(`X-Forwarded-Uri: /public/x?access_token=${token}\r\nX-Forwarded-Method: GET\r\n`)), 200);
    const dirty = [
      `X-Original-URI: /public/x\r?access_token=${token}\r\n`,
      `X-Original-URI: /public/x\n?access_token=${token}\r\n`,
      `X-Original-URI: /public/x\nX-Tokenbox-User: mallory\r\n`,
      `X-Forwarded-Uri: /public/x\r?access_token=${token}\r\nX-Forwarded-Method: GET\r\n`,
      `X-Forwarded-Uri: /public/x?access_token=${token}\r\nX-Forwarded-Method: GET\nX\r\n`,
      `X-Original-URI: /public/x\u0000?access_token=${token}\r\n`,
      `X-Original-URI: /public/x\u0007?access_token=${token}\r\n`,
      `X-Original-URI: /public/x\u007f?access_token=${token}\r\n`,
    ];
    for (const headers of dirty) {
      const raw = await send(headers);
      assert.equal(statusOf(raw), 400, `${JSON.stringify(headers)} → ${raw.split('\r\n')[0]}`);
    }
    // A tab is legal in a header value, so Node passes it on; tokenbox refuses it itself.
    const tab = await send(`X-Original-URI: /public/x\t?access_token=${token}\r\n`);
    assert.equal(statusOf(tab), 400);
    assert.match(tab, /\{"message":"Original URI is invalid"\}$/);
    assert.match(tab, /x-tokenbox-status: 400/i);
  });
});

// -------------------------------------------------------------------------------------------------

describe('logs: a successful check writes no line; no line ever holds a token', () => {
  let w: VerdictWorld;
  let x: ExtraTokens;
  let server: FastifyInstance;
  const lines: string[] = [];
  before(async () => {
    ({ w, x } = await worldWithTokens());
    // The production logger (src/http/server.ts) writing to a memory stream instead of stdout.
    server = buildServer(w.t.app, { logDestination: { write: (line: string) => lines.push(line) } });
    await server.ready();
  });
  after(async () => {
    await server?.close();
    await w?.t.close();
  });

  function secrets(): string[] {
    const k = w.tokens;
    return [k.defaultPk.token, k.sk.token, k.tk, k.urlPk.token, x.tiles.token, x.all.token].flatMap((t) => [t, t.split('.')[2] as string]);
  }

  function assertNoTokenIn(logged: readonly string[]): void {
    const all = logged.join('');
    for (const secret of secrets()) assert.ok(!all.includes(secret), `a log line holds ${secret.slice(0, 12)}…:\n${all}`);
  }

  it('successful checks in every style write no line; an API request does', async () => {
    lines.length = 0;
    for (const style of STYLES) {
      for (let i = 0; i < 5; i++) {
        const res = await server.inject(checkRequest(style, { path: '/public/x', token: x.tiles.token }));
        assert.equal(res.statusCode, 200);
      }
    }
    assert.deepEqual(lines, []);
    const api = await server.inject({ method: 'GET', url: `/tokens/v2/alice?access_token=${encodeURIComponent(w.tokens.sk.token)}` });
    assert.equal(api.statusCode, 404); // the sk lacks tokens:read; still an API request that is logged
    assert.ok(lines.length > 0, 'the API request wrote no log line: the capture does not work');
  });

  it('no line holds a token, whatever the request', async () => {
    lines.length = 0;
    const sk = encodeURIComponent(w.tokens.sk.token);
    const pk = encodeURIComponent(x.tiles.token);
    const requests: InjectOptions[] = [
      { method: 'GET', url: `/tokens/v2/alice?access_token=${sk}` },
      { method: 'GET', url: `/tokens/v2?access_token=${pk}` },
      { method: 'GET', url: `/tokens/v2?access_token=${encodeURIComponent(w.tokens.tk)}` },
      { method: 'POST', url: `/tokens/v2/alice?access_token=${sk}`, payload: '{bad', headers: { 'content-type': 'application/json' } },
      { method: 'GET', url: `/tokens/v2/alice/%zz?access_token=${sk}` },
      { method: 'GET', url: `/nowhere?x=1&access_token=${sk}` },
      { method: 'GET', url: `/scopes/v1/alice?ACCESS_TOKEN=${sk}` },
      { method: 'GET', url: `/tokens/v2/alice`, headers: { authorization: `Bearer ${w.tokens.sk.token}` } },
      { method: 'GET', url: `/auth/v1/check/public/%zz?access_token=${pk}` },
      { method: 'GET', url: `/auth/v1/check/private/x?access_token=${pk}` },
      { method: 'GET', url: `/auth/v1/check?scope=x&access_token=${pk}` },
      ...STYLES.map((style) => checkRequest(style, { path: '/private/x', token: x.tiles.token })),
      ...STYLES.map((style) => checkRequest(style, { path: '/public/x', token: w.tokens.urlPk.token })),
      ...STYLES.map((style) => checkRequest(style, { path: '/public/%zz', token: x.tiles.token })),
    ];
    for (const request of requests) {
      const res = await server.inject(request);
      assert.ok(res.statusCode < 500, `${JSON.stringify(request.url)}: ${res.statusCode}`);
    }
    assert.ok(lines.length > 0);
    assertNoTokenIn(lines);
  });

  it('a percent-encoded access_token name (acc%65ss_token, access%5Ftoken) is redacted too', async () => {
    lines.length = 0;
    const sk = encodeURIComponent(w.tokens.sk.token);
    for (const name of ['acc%65ss_token', 'access%5Ftoken', 'access%5ftoken']) {
      const res = await server.inject({ method: 'GET', url: `/tokens/v2?${name}=${sk}` });
      assert.equal(res.json<{ code: string }>().code, 'TokenValid', `${name} is read as the access_token`);
    }
    assertNoTokenIn(lines);
  });
});

// -------------------------------------------------------------------------------------------------

describe('tk tokens through forward auth', () => {
  it('a tk minted by a tk carries the root p; its X-Tokenbox-Token-Id is the root pk/sk id in every style', async () => {
    const w = await verdictWorld({ routes: ROUTES });
    try {
      const parentTk = await mintTk(w.t, w.tokens.sk.token, [PUBLIC_SCOPE, 'tokens:write'], 20 * 60_000);
      const childTk = await mintTk(w.t, parentTk, [PUBLIC_SCOPE], 10 * 60_000);
      for (const style of STYLES) {
        for (const token of [parentTk, childTk]) {
          const res = await w.t.server.inject(checkRequest(style, { path: '/public/x', token }));
          assert.deepEqual(observe(res, style), { ok: true, user: 'alice', tokenId: w.tokens.sk.id, usage: 'tk' });
        }
      }
    } finally {
      await w.t.close();
    }
  });
});

// -------------------------------------------------------------------------------------------------
// Holes found by attacking the core: each test is named after its attack and failed before the fix.

describe('attack: a method Fastify does not know (PROPFIND, MKCOL, PURGE…) got a bare 404 without a verdict', () => {
  let w: VerdictWorld;
  let x: ExtraTokens;
  let port: number;
  useListeningWorld((world) => ({ w, x, port } = world));

  for (const style of STYLES) {
    it(`${style}: every method of http.METHODS gets a verdict (a pass, and a refusal with X-Tokenbox-Status)`, async () => {
      for (const method of NODE_METHODS) {
        const pass = await w.t.server.inject(checkRequest(style, { method, path: '/any/x', token: x.tiles.token }));
        assert.deepEqual(observe(pass, `${style} ${method} pass`, method), { ok: true, user: 'alice', tokenId: x.tiles.id, usage: 'pk' });
        const refused = await w.t.server.inject(checkRequest(style, { method, path: '/any/x' }));
        assert.deepEqual(observe(refused, `${style} ${method} refusal`, method), NO_TOKEN);
      }
    });

    it(`${style}: route rules may name such methods (PROPFIND, MKCOL, M-SEARCH, PURGE on /dav/*)`, async () => {
      for (const method of ['PROPFIND', 'MKCOL', 'M-SEARCH', 'PURGE']) {
        const short = await w.t.server.inject(checkRequest(style, { method, path: '/dav/x', token: x.tiles.token }));
        assert.deepEqual(observe(short, `${style} ${method}`), requires('map:write'));
        const enough = await w.t.server.inject(checkRequest(style, { method, path: '/dav/x', token: x.all.token }));
        assert.deepEqual(observe(enough, `${style} ${method}`), { ok: true, user: 'alice', tokenId: x.all.id, usage: 'sk' });
      }
      // Another method is not the rule's: no rule, fail closed.
      assert.deepEqual(observe(await w.t.server.inject(checkRequest(style, { method: 'GET', path: '/dav/x', token: x.all.token })), style), FORBIDDEN);
    });
  }

  it('envoy over a real socket: Node parses PROPFIND, MKCOL, PURGE, M-SEARCH, REPORT and tokenbox answers each', async () => {
    const token = encodeURIComponent(x.tiles.token);
    for (const method of ['PROPFIND', 'MKCOL', 'PURGE', 'M-SEARCH', 'REPORT', 'QUERY']) {
      const pass = await rawExchange(port, `${method} /auth/v1/check/any/x?access_token=${token} HTTP/1.1\r\nHost: tokenbox\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(pass), 200, `${method}: ${pass.split('\r\n')[0]}`);
      const refused = await rawExchange(port, `${method} /auth/v1/check/any/x HTTP/1.1\r\nHost: tokenbox\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(refused), 401, method);
      assert.match(refused, /x-tokenbox-status: 401/i);
    }
  });

  for (const style of ['nginx', 'traefik'] as const) {
    it(`${style}: an original method with a dash (VERSION-CONTROL, BASELINE-CONTROL, M-SEARCH) is accepted`, async () => {
      const header = style === 'nginx' ? 'x-original-method' : 'x-forwarded-method';
      for (const method of ['VERSION-CONTROL', 'BASELINE-CONTROL', 'M-SEARCH', 'ORDERPATCH']) {
        const res = await w.t.server.inject({
          ...checkRequest(style, { path: '/any/x', token: x.tiles.token }),
          headers: { ...checkRequest(style, { path: '/any/x', token: x.tiles.token }).headers, [header]: method },
        });
        assert.equal(observe(res, `${style} ${method}`).ok, true, method);
      }
    });

    it(`${style}: an original method that is no RFC 9110 token is 400 Original URI is invalid`, async () => {
      const header = style === 'nginx' ? 'x-original-method' : 'x-forwarded-method';
      for (const method of ['GET POST', 'G(T', 'GET/1', 'M'.repeat(65), '"GET"']) {
        const base = checkRequest(style, { path: '/any/x', token: x.tiles.token });
        const res = await w.t.server.inject({ ...base, headers: { ...base.headers, [header]: method } });
        assert.deepEqual(observe(res, `${style} ${method}`), URI_INVALID, method);
      }
    });
  }

  it('elsewhere such a method is an unknown route: 404 {"message":"Not found"} with the API wire rules', async () => {
    const api = ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'];
    for (const method of NODE_METHODS.filter((m) => !api.includes(m))) {
      for (const url of ['/tokens/v2/alice', '/scopes/v1/alice', '/health', '/nowhere', '/auth/v1/checkers']) {
        const res = await w.t.server.inject({ method: method as InjectOptions['method'], url, headers: { 'content-type': 'text/plain' }, payload: 'x' });
        assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
        assert.deepEqual(res.json(), { message: 'Not found' }, `${method} ${url}`);
        if (!url.startsWith('/auth/')) assert.equal(res.headers['access-control-allow-origin'], '*', `${method} ${url}`);
      }
    }
  });
});

/** Rules with a catch-all, as an operator protecting `/private/*` and serving the rest publicly writes them. */
const CATCH_ALL_ROUTES = [
  { path: '/tiles/*/info', scope: 'styles:read' },
  { path: '/tiles/*', scope: 'styles:tiles' },
  { path: '/public/*', scope: 'styles:tiles' },
  { path: '/private/*', scope: 'map:read' },
  { path: '/*', scope: 'styles:tiles' },
];

async function catchAllWorld(): Promise<{ w: VerdictWorld; x: ExtraTokens; port: number }> {
  const w = await verdictWorld({ routes: CATCH_ALL_ROUTES });
  const x = await extraTokens(w.t);
  return { w, x, port: await listen(w.t.server) };
}

/** The verdict for `path` in `style`; Envoy over a raw socket, so nothing rewrites the path first. */
async function verdictFor(w: VerdictWorld, port: number, style: Style, path: string, token: string): Promise<Observed> {
  if (style !== 'envoy') return observe(await w.t.server.inject(checkRequest(style, { path, token })), `${style} ${path}`);
  const raw = await rawExchange(port, `GET /auth/v1/check${originalUri({ path, token })} HTTP/1.1\r\nHost: tokenbox\r\nConnection: close\r\n\r\n`);
  const status = statusOf(raw);
  if (status === 200)
    return {
      ok: true,
      user: /x-tokenbox-user: (\S+)/i.exec(raw)?.[1] ?? '',
      tokenId: /x-tokenbox-token-id: (\S+)/i.exec(raw)?.[1] ?? '',
      usage: /x-tokenbox-usage: (\S+)/i.exec(raw)?.[1] ?? '',
    };
  assert.match(raw, new RegExp(`x-tokenbox-status: ${status}`, 'i'), `envoy ${path}: ${raw.split('\r\n')[0]}`);
  return { ok: false, status, message: (JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { message: string }).message };
}

describe('attack: /private slipped past a /private/* rule onto a catch-all /*', () => {
  let w: VerdictWorld;
  let x: ExtraTokens;
  let port: number;
  useForSuite(
    catchAllWorld,
    ({ w }) => w.t.close(),
    (world) => ({ w, x, port } = world),
  );

  for (const style of STYLES) {
    it(`${style}: /private, /private/, /private?x=1 and /public/../private need map:read; /privateer is the catch-all's`, async () => {
      for (const path of ['/private', '/private/', '/private?x=1', '/public/../private', '/private/.']) {
        assert.deepEqual(await verdictFor(w, port, style, path, x.tiles.token), requires('map:read'), path);
        assert.equal((await verdictFor(w, port, style, path, x.all.token)).ok, true, path);
      }
      assert.equal((await verdictFor(w, port, style, '/privateer', x.tiles.token)).ok, true);
    });
  }
});

describe("attack: an original path a common upstream reads differently borrowed another path's scope", () => {
  let w: VerdictWorld;
  let x: ExtraTokens;
  let port: number;
  useForSuite(
    catchAllWorld,
    ({ w }) => w.t.close(),
    (world) => ({ w, x, port } = world),
  );

  const REFUSED: ReadonlyArray<[attack: string, path: string]> = [
    ['Tomcat/Spring path parameter on ..', '/public/..;/private/x'],
    ['Tomcat/Spring path parameter on .. with a value', '/public/..;jsessionid=1/private/x'],
    ['Tomcat/Spring path parameter on an encoded ..', '/public/%2e%2e;/private/x'],
    ['Tomcat/Spring path parameter on .', '/private/.;/x'],
    ['raw backslashes', '/public/..\\private\\x'],
    ['a raw backslash segment', '/public\\..\\private/x'],
    ['%5c decoded to a backslash', '/public/..%5cprivate/x'],
    ['%5C anywhere', '/public/%5C'],
    ['double-encoded dots', '/public/%252e%252e/private/x'],
    ['double-encoded slash', '/public/..%252fprivate/x'],
    ['double-encoded slash and dots', '/public%252f%252e%252e%252fprivate/x'],
    ['double-encoded backslash', '/public/..%255cprivate/x'],
    ['triple-encoded dots', '/public/%25252e%25252e/private/x'],
    ['%2F as data keeps /private, decoded it is /public', '/private/..%2F..%2Fpublic/x'],
    ['%2F as data is /tiles/*/info, decoded it is /tiles/*', '/tiles/a%2Fb/info'],
    ['parameters dropped it is /private/*, kept it is the catch-all', '/private;x=1/y'],
    ['an empty parameter', '/private;/y'],
  ];
  for (const style of STYLES) {
    it(`${style}: each is 400 Original URI is invalid (with X-Tokenbox-Status), never a pass`, async () => {
      for (const [attack, path] of REFUSED) {
        assert.deepEqual(await verdictFor(w, port, style, path, x.all.token), URI_INVALID, `${attack}: ${path}`);
      }
    });

    it(`${style}: a %2F or a ; that every reading routes alike still passes (a search text, Mapbox directions)`, async () => {
      for (const path of ['/public/3%2F45%20Main%20St.json', '/public/a%2fb', '/public/directions/-122.42,37.78;-77.03,38.91', '/any;v=1/x']) {
        assert.equal((await verdictFor(w, port, style, path, x.tiles.token)).ok, true, path);
      }
    });
  }

  for (const style of ['nginx', 'traefik'] as const) {
    it(`${style}: the path checks hold with the proxy's own ?scope= too`, async () => {
      for (const path of ['/public/..;/private/x', '/public/..%5cprivate/x', '/public/%252e%252e/private/x']) {
        const res = await w.t.server.inject(checkRequest(style, { path, token: x.tiles.token, scopeParam: PUBLIC_SCOPE }));
        assert.deepEqual(observe(res, `${style} ${path}`), URI_INVALID, path);
      }
    });
  }
});

describe('attack: a body header forward auth never reads kept a request from its verdict', () => {
  it('an empty or malformed Content-Type, on any method with a body, still gets the verdict with X-Tokenbox-*', async () => {
    const w = await verdictWorld({ routes: ROUTES });
    try {
      for (const contentType of ['', 'a/b; charset=', '/', 'text/plain', 'application/json']) {
        for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'] as const) {
          const refused = await w.t.server.inject({
            method,
            url: '/auth/v1/check?scope=styles:tiles',
            headers: { 'x-original-uri': '/x?access_token=pk.eyJ1IjoiYSJ9.AAAAAAAAAAAAAAAAAAAAAA', 'content-type': contentType },
            payload: '{not json',
          });
          assert.deepEqual([refused.statusCode, refused.headers['x-tokenbox-status']], [401, '401'], `${method} ${JSON.stringify(contentType)}`);
          const passed = await w.t.server.inject({
            method,
            url: '/auth/v1/check?scope=styles:tiles',
            headers: { 'x-original-uri': `/x?access_token=${w.tokens.defaultPk.token}`, 'content-type': contentType },
          });
          assert.equal(passed.statusCode, 200, `${method} ${JSON.stringify(contentType)}: ${passed.body}`);
        }
      }
    } finally {
      await w.t.close();
    }
  });
});
