/**
 * The Tokens API v2 and Scopes API operations (SPEC §3, §4), in-process via `inject`, one fresh
 * database per test, the clock moved instead of slept.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { BUILT_IN_SCOPES } from '../src/domain/scopes.js';
import type { TokenObject } from '../src/services/token-view.js';
import { startTestApp, type TestApp } from './helpers/app.js';

type Res = LightMyRequestResponse;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Api = (method: Method, url: string, payload?: unknown) => Promise<Res>;
interface World {
  t: TestApp;
  sk: TokenObject & { token: string };
  api: Api;
}

const ADMIN = ['tokens:read', 'tokens:write', 'scopes:list', 'styles:read', 'fonts:read', 'styles:list', 'map:read'];
const PUBLIC = BUILT_IN_SCOPES.filter((s) => s.public).map((s) => s.id);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

function withToken(url: string, token: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`;
}

function as(t: TestApp, token: string): Api {
  return (method, url, payload) => t.server.inject({ method, url: withToken(url, token), ...(payload !== undefined && { payload: payload as string }) });
}

function check(name: string, fn: (w: World) => Promise<void>, overrides: Record<string, unknown> = {}, options: { todo?: string } = {}): void {
  it(name, options, async () => {
    const t = await startTestApp(overrides);
    try {
      await t.account('alice');
      const sk = await t.token('alice', ADMIN);
      await fn({ t, sk, api: as(t, sk.token) });
    } finally {
      await t.close();
    }
  });
}

function ok<T = unknown>(res: Res, status = 200): T {
  assert.equal(res.statusCode, status, res.body);
  return res.json<T>();
}

function expectError(res: Res, status: number, message: string): void {
  assert.equal(res.statusCode, status, res.body);
  assert.deepEqual(res.json(), { message });
}

const list = async (w: World, query = ''): Promise<TokenObject[]> => ok(await w.api('GET', `/tokens/v2/alice${query}`));
const ids = (tokens: readonly TokenObject[]) => tokens.map((x) => x.id);

function nextLink(res: Res): URL | null {
  const header = res.headers.link;
  if (header === undefined) return null;
  const match = /^<([^>]+)>; rel="next"$/.exec(String(header));
  assert.ok(match, `Link header shape: ${String(header)}`);
  return new URL(match[1] as string);
}

async function mint(w: World, scopes: readonly string[], lifetimeMs = 1_800_000, api = w.api): Promise<string> {
  const res = await api('POST', '/tokens/v2/alice', { expires: new Date(w.t.clock() + lifetimeMs).toISOString(), scopes });
  return ok<{ token: string }>(res).token;
}

const retrieve = async (w: World, token: string) => ok<{ code: string; token?: unknown }>(await w.t.server.inject({ url: withToken('/tokens/v2', token) }));

describe('list: GET /tokens/v2/{username}', () => {
  check('200: token objects newest first; `token` for pk only; optional keys only when set', async (w) => {
    w.t.clock.advance(1000);
    const restricted = await w.t.token('alice', ['styles:read'], { allowedUrls: ['example.com'] });
    const all = await list(w);
    assert.equal(all.length, 3);
    const [first] = all;
    const second = all.find((x) => x.id === w.sk.id);
    const third = all.find((x) => x.default);
    assert.deepEqual(first, { ...restricted, created: first?.created, modified: first?.modified });
    assert.deepEqual(Object.keys(first ?? {}).sort(), ['allowedUrls', 'client', 'created', 'default', 'id', 'modified', 'note', 'scopes', 'token', 'usage']);
    assert.deepEqual(Object.keys(second ?? {}).sort(), ['client', 'created', 'default', 'id', 'modified', 'note', 'scopes', 'usage']);
    assert.deepEqual([second?.usage, second?.scopes], ['sk', ADMIN]);
    assert.deepEqual([third?.note, third?.scopes, third?.usage], ['Default Public Token', PUBLIC, 'pk']);
    assert.match(third?.token ?? '', /^pk\./);
    assert.match(first?.created ?? '', ISO);
    assert.equal(first?.created, new Date(T0 + 1000).toISOString());
  });

  check('filters: usage=pk|sk, default=true|false', async (w) => {
    await w.t.token('alice', ['styles:read']);
    assert.deepEqual(
      (await list(w, '?usage=sk')).map((x) => x.id),
      [w.sk.id],
    );
    assert.deepEqual(
      (await list(w, '?usage=pk')).map((x) => x.usage),
      ['pk', 'pk'],
    );
    assert.deepEqual(
      (await list(w, '?default=true')).map((x) => x.default),
      [true],
    );
    assert.deepEqual(
      (await list(w, '?default=false')).map((x) => x.default),
      [false, false],
    );
  });

  check('sortby=created and sortby=modified, newest first', async (w) => {
    w.t.clock.advance(1000);
    const a = await w.t.token('alice', []);
    w.t.clock.advance(1000);
    const b = await w.t.token('alice', []);
    w.t.clock.advance(1000);
    ok(await w.api('PATCH', `/tokens/v2/alice/${a.id}`, { note: 'touched' }));
    assert.deepEqual(ids(await list(w, '?sortby=created')).slice(0, 2), [b.id, a.id]);
    assert.deepEqual(ids(await list(w, '?sortby=modified')).slice(0, 2), [a.id, b.id]);
    assert.deepEqual(ids(await list(w)), ids(await list(w, '?sortby=created')));
  });

  check('ties on the sort value go by id descending', async (w) => {
    for (let i = 0; i < 5; i++) await w.t.token('alice', []);
    const got = ids(await list(w));
    assert.deepEqual(got, [...got].sort().reverse());
  });

  check('limit: a Link while more remain, none on the last page; never access_token; repeats every list param', async (w) => {
    for (let i = 0; i < 3; i++) await w.t.token('alice', []);
    const first = await w.api('GET', '/tokens/v2/alice?limit=2&usage=pk&sortby=created&default=false');
    assert.equal(ok<TokenObject[]>(first).length, 2);
    const link = nextLink(first);
    assert.ok(link);
    assert.equal(link.origin, 'http://localhost');
    assert.equal(link.pathname, '/tokens/v2/alice');
    assert.ok(!link.href.includes('access_token'));
    assert.ok(!link.href.includes(w.sk.token));
    assert.deepEqual([...link.searchParams.keys()].sort(), ['default', 'limit', 'sortby', 'start', 'usage']);
    assert.deepEqual([link.searchParams.get('limit'), link.searchParams.get('usage'), link.searchParams.get('default')], ['2', 'pk', 'false']);
    assert.match(link.searchParams.get('start') ?? '', /^\d+\.c[a-z0-9]{24}$/);
    const last = await w.api('GET', `${link.pathname}${link.search}`);
    assert.equal(ok<TokenObject[]>(last).length, 1, 'three non-default pks in all');
    assert.equal(last.headers.link, undefined);
    assert.ok(nextLink(await w.api('GET', '/tokens/v2/alice?limit=4')));
    assert.equal((await w.api('GET', '/tokens/v2/alice?limit=5')).headers.link, undefined, 'exactly 5 tokens: no next page');
  });

  check(
    'Link is built on publicUrl when configured',
    async (w) => {
      const link = nextLink(await w.api('GET', '/tokens/v2/alice?limit=1'));
      assert.equal(link?.origin, 'https://tokens.example.com');
      assert.equal(link?.pathname, '/tokens/v2/alice');
    },
    { publicUrl: 'https://tokens.example.com' },
  );

  check("Link uses the request's own Host, never X-Forwarded-Host without trustProxy", async (w) => {
    const res = await w.t.server.inject({
      url: withToken('/tokens/v2/alice?limit=1', w.sk.token),
      headers: { host: 'api.example.net', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
    });
    assert.equal(nextLink(res)?.origin, 'http://api.example.net');
  });

  check('a list param repeated with the same value counts once; different values are invalid', async (w) => {
    const res = await w.api('GET', '/tokens/v2/alice?limit=1&limit=1&sortby=created&sortby=created');
    assert.equal(ok<TokenObject[]>(res).length, 1);
    expectError(await w.api('GET', '/tokens/v2/alice?limit=1&limit=2'), 422, 'limit is invalid');
    expectError(await w.api('GET', '/tokens/v2/alice?sortby=created&sortby=modified'), 422, 'sortby is invalid');
    expectError(await w.api('GET', '/tokens/v2/alice?usage=pk&usage=sk'), 422, 'usage is invalid');
  });

  for (const sortby of ['created', 'modified']) {
    check(`walking every page via Link (sortby=${sortby}) yields each token once, in list order`, async (w) => {
      const made = [];
      for (let i = 0; i < 7; i++) made.push(await w.t.token('alice', [], { note: `n${i}` }));
      for (const [i, token] of made.entries()) {
        if (i % 3 === 0) continue;
        w.t.clock.advance(10);
        ok(await w.api('PATCH', `/tokens/v2/alice/${token.id}`, { note: `m${i}` }));
      }
      const all = ids(await list(w, `?sortby=${sortby}`));
      assert.equal(all.length, 9);
      const walked: string[] = [];
      let url: string | null = `/tokens/v2/alice?limit=2&sortby=${sortby}`;
      for (let pages = 0; url !== null; pages++) {
        assert.ok(pages < 10, 'the walk ends');
        const res: Res = await w.api('GET', url);
        walked.push(...ids(ok(res)));
        const link = nextLink(res);
        // The SDK's nextPage() may re-append the first query: the same value counts once.
        url = link && `${link.pathname}${link.search}&limit=2`;
      }
      assert.deepEqual(walked, all);
    });
  }

  check('a bare token id as start continues after that token', async (w) => {
    for (let i = 0; i < 4; i++) await w.t.token('alice', []);
    const all = ids(await list(w));
    assert.deepEqual(ids(await list(w, `?start=${all[2]}`)), all.slice(3));
  });
});

describe('create: POST /tokens/v2/{username}', () => {
  check('200 pk from public scopes, with its token string and Cache-Control: no-store', async (w) => {
    const res = await w.api('POST', '/tokens/v2/alice', { scopes: ['styles:read', 'fonts:read'], note: 'web' });
    const body = ok<TokenObject>(res);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual(
      { ...body, id: '', token: '' },
      {
        client: 'api',
        note: 'web',
        usage: 'pk',
        id: '',
        default: false,
        scopes: ['styles:read', 'fonts:read'],
        created: new Date(T0).toISOString(),
        modified: new Date(T0).toISOString(),
        token: '',
      },
    );
    assert.match(body.token ?? '', /^pk\.[A-Za-z0-9]+\.[A-Za-z0-9_-]{22}$/);
    assert.equal((await list(w)).find((x) => x.id === body.id)?.token, body.token);
  });

  check('200 sk when any scope is secret; its string only in the create response', async (w) => {
    const body = ok<TokenObject>(await w.api('POST', '/tokens/v2/alice', { scopes: ['styles:read', 'map:read'] }));
    assert.equal(body.usage, 'sk');
    assert.match(body.token ?? '', /^sk\./);
    assert.equal((await list(w)).find((x) => x.id === body.id)?.token, undefined);
    assert.equal('token' in ok<object>(await w.api('PATCH', `/tokens/v2/alice/${body.id}`, { note: 'x' })), false);
    assert.deepEqual(await retrieve(w, body.token ?? ''), { code: 'TokenValid', token: { usage: 'sk', user: 'alice', authorization: body.id } });
  });

  check('200 for {}: a pk with no scopes and note ""; createdBy is recorded, not asked for nor shown', async (w) => {
    const body = ok<TokenObject & { createdBy?: string }>(await w.api('POST', '/tokens/v2/alice', {}));
    assert.deepEqual([body.usage, body.note, body.scopes, body.default, body.createdBy], ['pk', '', [], false, undefined]);
    assert.equal((await w.t.app.store.getToken('alice', body.id))?.createdBy, w.sk.id);
  });

  check('a Unicode note round-trips', async (w) => {
    const note = 'Café 東京 🚀 עברית — “quotes” \u00a0é';
    const body = ok<TokenObject>(await w.api('POST', '/tokens/v2/alice', { note }));
    assert.equal(body.note, note);
    assert.equal((await list(w)).find((x) => x.id === body.id)?.note, note);
  });

  check('resources: null is accepted; allowedUrls round-trips', async (w) => {
    const body = ok<TokenObject>(await w.api('POST', '/tokens/v2/alice', { resources: null, allowedUrls: ['https://example.com/app'] }));
    assert.deepEqual(body.allowedUrls, ['https://example.com/app']);
    assert.equal('resources' in body, false);
  });

  const refusals: Array<[string, unknown, string]> = [
    ['a scope the caller lacks (no escalation)', { scopes: ['uploads:write'] }, 'scopes are invalid'],
    ['an unknown scope', { scopes: ['nope:nope'] }, 'scopes are invalid'],
    ['resources: []', { resources: [] }, 'resources are invalid'],
    ['allowedUrls: []', { allowedUrls: [] }, 'allowedUrls are invalid'],
  ];
  for (const [name, body, message] of refusals) {
    check(`422 ${message}: ${name}`, async (w) => {
      const before = await list(w);
      expectError(await w.api('POST', '/tokens/v2/alice', body), 422, message);
      assert.deepEqual(await list(w), before);
    });
  }

  check(
    '422 too many tokens at maxTokensPerAccount (the default token counts)',
    async (w) => {
      ok(await w.api('POST', '/tokens/v2/alice', {}));
      expectError(await w.api('POST', '/tokens/v2/alice', {}), 422, 'too many tokens');
      assert.equal((await list(w)).length, 3);
    },
    { maxTokensPerAccount: 3 },
  );
});

describe('create temporary: POST /tokens/v2/{username} {expires, scopes}', () => {
  check('200 from an sk: token, issued_at, expires, expires_in; no-store', async (w) => {
    const expires = new Date(T0 + 1_800_000).toISOString();
    const res = await w.api('POST', '/tokens/v2/alice', { expires, scopes: ['tokens:read'] });
    const body = ok<Record<string, unknown>>(res);
    assert.deepEqual(Object.keys(body).sort(), ['expires', 'expires_in', 'issued_at', 'token']);
    assert.deepEqual({ ...body, token: '' }, { token: '', issued_at: new Date(T0).toISOString(), expires, expires_in: 1800 });
    assert.match(String(body.token), /^tk\.[A-Za-z0-9]+\.[A-Za-z0-9_-]{22}$/);
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  check('the tk works for API calls, is never listed, and is refused once its parent sk is deleted', async (w) => {
    const parent = await w.t.token('alice', ['tokens:read', 'tokens:write']);
    const tk = await mint(w, ['tokens:read', 'tokens:write'], 1_800_000, as(w.t, parent.token));
    const grandchild = await mint(w, ['tokens:read'], 600_000, as(w.t, tk));
    const listed = ok<TokenObject[]>(await as(w.t, tk)('GET', '/tokens/v2/alice'));
    assert.equal(listed.length, 3, 'default, sk, parent: no tk');
    assert.equal((await as(w.t, grandchild)('GET', '/tokens/v2/alice')).statusCode, 200);
    assert.equal((await w.api('DELETE', `/tokens/v2/alice/${parent.id}`)).statusCode, 204);
    expectError(await as(w.t, tk)('GET', '/tokens/v2/alice'), 401, 'Unauthorized');
    expectError(await as(w.t, grandchild)('GET', '/tokens/v2/alice'), 401, 'Unauthorized');
  });

  check('expires exactly one hour away is accepted; a tk may mint a tk expiring with it', async (w) => {
    const tk = await mint(w, ['tokens:write'], 3_600_000);
    w.t.clock.advance(1000);
    await mint(w, ['tokens:write'], 3_599_000, as(w.t, tk));
  });

  const refusals: Array<[string, (now: number) => unknown, string]> = [
    ['expires in the past', (now) => ({ expires: new Date(now - 1000).toISOString(), scopes: [] }), 'expires is in the past'],
    ['expires now', (now) => ({ expires: new Date(now).toISOString(), scopes: [] }), 'expires is in the past'],
    ['expires over one hour away', (now) => ({ expires: new Date(now + 3_601_000).toISOString(), scopes: [] }), 'expires is more than one hour in the future'],
    ['garbage expires', () => ({ expires: 'soon', scopes: [] }), 'expires is invalid'],
    ['a numeric expires', (now) => ({ expires: now + 60_000, scopes: [] }), 'expires is invalid'],
    ['a scope the sk lacks', (now) => ({ expires: new Date(now + 60_000).toISOString(), scopes: ['uploads:write'] }), 'scopes are invalid'],
    ['allowedUrls on a tk', (now) => ({ expires: new Date(now + 60_000).toISOString(), scopes: [], allowedUrls: ['example.com'] }), 'allowedUrls are invalid'],
    ['any other key', (now) => ({ expires: new Date(now + 60_000).toISOString(), scopes: [], note: 'x' }), 'note is not allowed'],
  ];
  for (const [name, body, message] of refusals) {
    check(`422 ${message}: ${name}`, async (w) => expectError(await w.api('POST', '/tokens/v2/alice', body(w.t.clock())), 422, message));
  }

  check('422 expires is invalid: a date that is not ISO 8601', async (w) => {
    expectError(await w.api('POST', '/tokens/v2/alice', { expires: 'Sat Nov 28 2026 12:30:00 GMT', scopes: [] }), 422, 'expires is invalid');
  });

  check('422 a tk may not mint a tk that outlives it, nor grant a scope it lacks', async (w) => {
    const tk = as(w.t, await mint(w, ['tokens:write', 'styles:read'], 600_000));
    const past = new Date(w.t.clock() + 601_000).toISOString();
    expectError(
      await tk('POST', '/tokens/v2/alice', { expires: past, scopes: [] }),
      422,
      'expires may not be greater than the expiration of the authorizing token',
    );
    const within = new Date(w.t.clock() + 60_000).toISOString();
    expectError(await tk('POST', '/tokens/v2/alice', { expires: within, scopes: ['tokens:read'] }), 422, 'scopes are invalid');
  });
});

describe('update: PATCH /tokens/v2/{username}/{id}', () => {
  check('note and scopes change; modified moves, created does not; sk has no token', async (w) => {
    w.t.clock.advance(5000);
    const body = ok<TokenObject>(await w.api('PATCH', `/tokens/v2/alice/${w.sk.id}`, { note: 'ops', scopes: ['tokens:read', 'tokens:write', 'styles:read'] }));
    assert.deepEqual([body.note, body.scopes, body.usage], ['ops', ['tokens:read', 'tokens:write', 'styles:read'], 'sk']);
    assert.deepEqual([body.created, body.modified], [w.sk.created, new Date(T0 + 5000).toISOString()]);
    assert.equal('token' in body, false);
  });

  check('allowedUrls are set, and removed with null', async (w) => {
    const pk = await w.t.token('alice', ['styles:read']);
    const set = ok<TokenObject>(await w.api('PATCH', `/tokens/v2/alice/${pk.id}`, { allowedUrls: ['example.com'] }));
    assert.deepEqual(set.allowedUrls, ['example.com']);
    assert.equal(set.token, pk.token, 'a pk keeps its string');
    const cleared = ok<TokenObject>(await w.api('PATCH', `/tokens/v2/alice/${pk.id}`, { allowedUrls: null }));
    assert.equal('allowedUrls' in cleared, false);
  });

  check('422 a pk never gains a secret scope, even one the caller holds', async (w) => {
    const pk = await w.t.token('alice', ['styles:read']);
    expectError(await w.api('PATCH', `/tokens/v2/alice/${pk.id}`, { scopes: ['styles:read', 'map:read'] }), 422, 'scopes are invalid');
    assert.deepEqual((await w.t.app.store.getToken('alice', pk.id))?.scopes, ['styles:read']);
  });

  check('422 no escalation: the caller cannot grant a scope it lacks', async (w) => {
    const sk = await w.t.token('alice', ['map:read']);
    expectError(await w.api('PATCH', `/tokens/v2/alice/${sk.id}`, { scopes: ['uploads:write'] }), 422, 'scopes are invalid');
  });

  check('default token: only the note may change', async (w) => {
    const dflt = (await list(w, '?default=true'))[0] as TokenObject;
    const url = `/tokens/v2/alice/${dflt.id}`;
    assert.equal(ok<TokenObject>(await w.api('PATCH', url, { note: 'Mine' })).note, 'Mine');
    expectError(await w.api('PATCH', url, { scopes: ['styles:read'] }), 422, 'scopes are invalid');
    expectError(await w.api('PATCH', url, { allowedUrls: ['example.com'] }), 422, 'allowedUrls are invalid');
    expectError(await w.api('PATCH', url, { allowedApplications: [{ platform: 'ios', bundleId: 'com.example.app' }] }), 422, 'allowedApplications are invalid');
    const after = (await list(w, '?default=true'))[0];
    assert.deepEqual(after, { ...dflt, note: 'Mine', modified: after?.modified });
  });
});

describe('delete: DELETE /tokens/v2/{username}/{id}', () => {
  check('204 with an empty body; the token is gone and its string refused', async (w) => {
    const sk = await w.t.token('alice', ['tokens:read']);
    const res = await w.api('DELETE', `/tokens/v2/alice/${sk.id}`);
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assert.ok(!ids(await list(w)).includes(sk.id));
    expectError(await as(w.t, sk.token)('GET', '/tokens/v2/alice'), 401, 'Unauthorized');
  });

  check('deleting the default token refreshes it: new id and string, same note, old string 401 at once', async (w) => {
    const old = (await list(w, '?default=true'))[0] as TokenObject;
    ok(await w.api('PATCH', `/tokens/v2/alice/${old.id}`, { note: 'Mine' }));
    assert.equal((await w.api('DELETE', `/tokens/v2/alice/${old.id}`)).statusCode, 204);
    const defaults = await list(w, '?default=true');
    assert.equal(defaults.length, 1);
    const fresh = defaults[0] as TokenObject;
    assert.notEqual(fresh.id, old.id);
    assert.notEqual(fresh.token, old.token);
    assert.deepEqual([fresh.note, fresh.scopes, fresh.usage], ['Mine', PUBLIC, 'pk']);
    expectError(await as(w.t, old.token ?? '')('GET', '/scopes/v1/alice'), 401, 'Unauthorized');
    assert.equal((await retrieve(w, old.token ?? '')).code, 'TokenRevoked');
    assert.equal((await retrieve(w, fresh.token ?? '')).code, 'TokenValid');
  });

  check('two concurrent refreshes of the default token leave exactly one default token', async (w) => {
    const old = (await list(w, '?default=true'))[0] as TokenObject;
    const codes = (await Promise.all([1, 2].map(() => w.api('DELETE', `/tokens/v2/alice/${old.id}`)))).map((r) => r.statusCode).sort();
    assert.deepEqual(codes, [204, 404]);
    assert.equal((await list(w, '?default=true')).length, 1);
  });
});

/** A tk's retrieve object as its payload states it, minted at T0 for `lifeMs`. */
function tkClaims(lifeMs: number, scopes: string[]) {
  return { usage: 'tk', user: 'alice', expires: new Date(T0 + lifeMs).toISOString(), created: new Date(T0).toISOString(), scopes, client: 'api' };
}

describe('retrieve: GET /tokens/v2?access_token=…', () => {
  check('TokenValid for pk, sk and tk with the exact token shapes', async (w) => {
    const pk = await w.t.token('alice', ['styles:read']);
    assert.deepEqual(await retrieve(w, pk.token), { code: 'TokenValid', token: { usage: 'pk', user: 'alice', authorization: pk.id } });
    assert.deepEqual(await retrieve(w, w.sk.token), { code: 'TokenValid', token: { usage: 'sk', user: 'alice', authorization: w.sk.id } });
    const tk = await mint(w, ['styles:read', 'map:read'], 600_000);
    assert.deepEqual(await retrieve(w, tk), {
      code: 'TokenValid',
      token: {
        usage: 'tk',
        user: 'alice',
        expires: new Date(T0 + 600_000).toISOString(),
        created: new Date(T0).toISOString(),
        scopes: ['styles:read', 'map:read'],
        client: 'api',
      },
    });
  });

  check('TokenMalformed (no token object), TokenInvalid for a forged secret, with the token read from its own payload', async (w) => {
    assert.deepEqual(await retrieve(w, 'sk.notatoken'), { code: 'TokenMalformed' });
    const [u, p, s] = w.sk.token.split('.') as [string, string, string];
    assert.deepEqual(await retrieve(w, `${u}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`), {
      code: 'TokenInvalid',
      token: { usage: 'sk', user: 'alice', authorization: w.sk.id },
    });
    const tk = await mint(w, [], 600_000);
    assert.deepEqual(await retrieve(w, `${tk.slice(0, -1)}${tk.endsWith('A') ? 'B' : 'A'}`), { code: 'TokenInvalid', token: tkClaims(600_000, []) });
  });

  check('TokenExpired at exp; TokenRevoked for deleted pk/sk and a tk whose parent was deleted, each with its token', async (w) => {
    const pk = await w.t.token('alice', ['styles:read']);
    const parent = await w.t.token('alice', ['tokens:write', 'styles:read']);
    const tk = await mint(w, ['styles:read'], 600_000, as(w.t, parent.token));
    const short = await mint(w, [], 1000);
    for (const id of [pk.id, parent.id]) assert.equal((await w.api('DELETE', `/tokens/v2/alice/${id}`)).statusCode, 204);
    assert.deepEqual(await retrieve(w, pk.token), { code: 'TokenRevoked', token: { usage: 'pk', user: 'alice', authorization: pk.id } });
    assert.deepEqual(await retrieve(w, parent.token), { code: 'TokenRevoked', token: { usage: 'sk', user: 'alice', authorization: parent.id } });
    assert.deepEqual(await retrieve(w, tk), { code: 'TokenRevoked', token: tkClaims(600_000, ['styles:read']) });
    w.t.clock.advance(1000);
    assert.deepEqual(await retrieve(w, short), { code: 'TokenExpired', token: tkClaims(1000, []) });
    w.t.clock.advance(600_000);
    assert.deepEqual(await retrieve(w, tk), { code: 'TokenExpired', token: tkClaims(600_000, ['styles:read']) }, 'expired is checked before revoked');
  });

  check('TokenInvalid, not TokenRevoked, for a forged secret on a deleted id (invalid is checked first)', async (w) => {
    const sk = await w.t.token('alice', ['map:read']);
    assert.equal((await w.api('DELETE', `/tokens/v2/alice/${sk.id}`)).statusCode, 204);
    const [u, p, s] = sk.token.split('.') as [string, string, string];
    assert.deepEqual(await retrieve(w, `${u}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`), {
      code: 'TokenInvalid',
      token: { usage: 'sk', user: 'alice', authorization: sk.id },
    });
  });

  check('422 access token is required without a token', async (w) => {
    expectError(await w.t.server.inject({ url: '/tokens/v2' }), 422, 'access token is required');
  });
});

describe('list scopes: GET /scopes/v1/{username}', () => {
  check('200 the catalog; public: true only on public scopes', async (w) => {
    const body = ok<Array<{ id: string; description: string; public?: boolean }>>(await w.api('GET', '/scopes/v1/alice'));
    assert.deepEqual(body.map((s) => s.id).sort(), BUILT_IN_SCOPES.map((s) => s.id).sort());
    for (const s of body) {
      assert.ok(typeof s.description === 'string' && s.description.length > 0);
      assert.deepEqual(Object.keys(s).sort(), PUBLIC.includes(s.id) ? ['description', 'id', 'public'] : ['description', 'id']);
      if (PUBLIC.includes(s.id)) assert.equal(s.public, true);
    }
  });
});

describe('rate limit (accountRateLimit: 3)', () => {
  const rate = (res: Res) => [res.headers['x-rate-limit-interval'], res.headers['x-rate-limit-limit'], res.headers['x-rate-limit-reset']];
  const headers = ['60', '3', String(T0 / 1000 + 60)];

  check(
    'the 4th request in a window is 429 with Retry-After; the window resets after 60 s',
    async (w) => {
      for (let i = 0; i < 3; i++) assert.deepEqual(rate(await w.api('GET', '/scopes/v1/alice')), headers);
      w.t.clock.advance(15_000);
      const limited = await w.api('GET', '/tokens/v2/alice');
      expectError(limited, 429, 'Too Many Requests');
      assert.deepEqual(rate(limited), headers);
      assert.equal(limited.headers['retry-after'], '45');
      w.t.clock.advance(45_000);
      assert.equal((await w.api('GET', '/tokens/v2/alice')).statusCode, 200);
    },
    { accountRateLimit: 3 },
  );

  check(
    'X-Rate-Limit-* on every API response, errors included',
    async (w) => {
      const responses = [
        await w.api('POST', '/tokens/v2/alice', { scopes: ['nope:nope'] }),
        await w.api('DELETE', `/tokens/v2/alice/${w.sk.id}`),
        await w.t.server.inject({ url: '/tokens/v2/alice' }),
        await w.t.server.inject({ url: '/scopes/v1/nobody' }),
        await w.t.server.inject({ url: withToken('/tokens/v2', w.sk.token) }),
      ];
      for (const res of responses) assert.deepEqual(rate(res), headers, `${res.statusCode} ${res.body}`);
    },
    { accountRateLimit: 3 },
  );

  check(
    "forged tokens are limited per client IP and never spend the victim's quota",
    async (w) => {
      const [u, p, s] = w.sk.token.split('.') as [string, string, string];
      const forged = `${u}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
      // Same client IP as the victim's own requests below: the buckets still differ.
      const attack = () => w.t.server.inject({ url: withToken('/tokens/v2/alice', forged) });
      for (let i = 0; i < 3; i++) expectError(await attack(), 401, 'Unauthorized');
      expectError(await attack(), 429, 'Too Many Requests');
      expectError(await w.t.server.inject({ url: withToken('/tokens/v2/alice', forged), remoteAddress: '198.51.100.7' }), 401, 'Unauthorized');
      for (let i = 0; i < 3; i++) assert.equal((await w.api('GET', '/tokens/v2/alice')).statusCode, 200);
      expectError(await w.api('GET', '/tokens/v2/alice'), 429, 'Too Many Requests');
      assert.equal((await w.t.server.inject({ url: '/health' })).statusCode, 200, '/health is exempt');
      assert.equal((await w.t.server.inject({ method: 'OPTIONS', url: '/tokens/v2/alice' })).statusCode, 204, 'OPTIONS is exempt');
    },
    { accountRateLimit: 3 },
  );
  check(
    "a published public token cannot spend the quota of the account's secret tokens",
    async (w) => {
      const pk = ok<TokenObject[]>(await w.api('GET', '/tokens/v2/alice?default=true'))[0]!.token!;
      const viaPk = () => w.t.server.inject({ url: withToken('/tokens/v2/alice', pk) });
      for (let i = 0; i < 3; i++) expectError(await viaPk(), 404, 'Not found');
      expectError(await viaPk(), 429, 'Too Many Requests');
      expectError(await w.t.server.inject({ url: withToken('/tokens/v2', pk) }), 429, 'Too Many Requests');
      // The sk has spent 1 request (the list above) of its own 3.
      for (let i = 0; i < 2; i++) assert.equal((await w.api('GET', '/tokens/v2/alice')).statusCode, 200);
      expectError(await w.api('GET', '/tokens/v2/alice'), 429, 'Too Many Requests');
    },
    { accountRateLimit: 3 },
  );
});

describe('wire rules', () => {
  check('CORS: Allow-Origin * on success and error, never Allow-Credentials; Link and X-Rate-Limit-* exposed', async (w) => {
    for (const res of [await w.api('GET', '/tokens/v2/alice'), await w.t.server.inject({ url: '/tokens/v2/alice' })]) {
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
      const exposed = String(res.headers['access-control-expose-headers']).split(/,\s*/);
      for (const h of ['Link', 'X-Rate-Limit-Interval', 'X-Rate-Limit-Limit', 'X-Rate-Limit-Reset']) assert.ok(exposed.includes(h), h);
    }
  });

  check('CORS preflight: 204 without auth, methods, headers, max age 600', async (w) => {
    for (const url of ['/tokens/v2/alice', `/tokens/v2/alice/${w.sk.id}`, '/scopes/v1/alice', '/tokens/v2']) {
      const res = await w.t.server.inject({ method: 'OPTIONS', url, headers: { origin: 'https://app.example', 'access-control-request-method': 'PATCH' } });
      assert.equal(res.statusCode, 204);
      assert.equal(res.body, '');
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-methods'], 'GET, POST, PATCH, DELETE');
      assert.equal(res.headers['access-control-allow-headers'], 'Authorization, Content-Type');
      assert.equal(res.headers['access-control-max-age'], '600');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
    }
  });

  check('Cache-Control: no-store on list and update responses that carry a pk string', async (w) => {
    const pk = await w.t.token('alice', ['styles:read']);
    assert.equal((await w.api('GET', '/tokens/v2/alice')).headers['cache-control'], 'no-store');
    assert.equal((await w.api('PATCH', `/tokens/v2/alice/${pk.id}`, { note: 'n' })).headers['cache-control'], 'no-store');
  });

  check('GET /health: 200 ok; 503 unavailable once the store is closed, and the API answers 503', async (w) => {
    const healthy = ok<{ status: string; changes: { seq: number; lagMs: number; failing: boolean } }>(await w.t.server.inject({ url: '/health' }));
    assert.equal(healthy.status, 'ok');
    assert.equal(healthy.changes.failing, false);
    assert.ok(Number.isInteger(healthy.changes.seq) && healthy.changes.lagMs >= 0);
    await w.t.app.store.close();
    const res = await w.t.server.inject({ url: '/health' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json<{ status: string }>().status, 'unavailable');
    expectError(await w.api('GET', '/tokens/v2/alice'), 503, 'Service Unavailable');
  });

  check('/openapi.json: an OpenAPI 3 document listing the operations', async (w) => {
    const doc = ok<{ openapi: string; info: object; paths: Record<string, Record<string, { operationId?: string }>> }>(
      await w.t.server.inject({ url: '/openapi.json' }),
    );
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    const ops = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([m]) => m !== 'parameters')
        .map(([m, op]) => `${m} ${path} ${op.operationId}`),
    );
    for (const op of [
      'get /tokens/v2 retrieveToken',
      'get /tokens/v2/{username} listTokens',
      'post /tokens/v2/{username} createToken',
      'patch /tokens/v2/{username}/{id} updateToken',
      'delete /tokens/v2/{username}/{id} deleteToken',
      'get /scopes/v1/{username} listScopes',
    ]) {
      assert.ok(ops.includes(op), op);
    }
  });

  check('an unknown route or method is 404 Not found', async (w) => {
    for (const [method, url] of [
      ['GET', '/nope'],
      ['GET', '/tokens/v3/alice'],
      ['POST', '/scopes/v1/alice'],
      ['GET', `/tokens/v2/alice/${w.sk.id}`],
    ] as const) {
      expectError(await w.api(method, url), 404, 'Not found');
    }
  });
});
