/**
 * The operators' API (SPEC §10) and admin keys on the Tokens, Scopes and Analytics APIs, in
 * process (`server.inject`) on a real SQLite file. Grouped by status: every endpoint's success,
 * then every refusal, in SPEC §4.3's order (401 → 429 → body → 404 / 409 / 422).
 */
import assert from 'node:assert/strict';
import { beforeEach, afterEach, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildServer } from '../src/http/server.js';
import { startTestApp, type TestApp } from './helpers/app.js';

interface World {
  readonly t: TestApp;
  /** An admin key string and its id. */
  readonly key: string;
  readonly keyId: string;
  /** alice's sk holding every catalog scope. */
  readonly sk: string;
}

async function world(overrides: Record<string, unknown> = {}): Promise<World> {
  const t = await startTestApp(overrides);
  await t.account('alice');
  t.clock.advance(1_000);
  await t.account('bob');
  const sk = await t.token(
    'alice',
    t.app.catalog.list().map((s) => s.id),
  );
  const { key, id } = await t.app.adminKeys.create('tests');
  return { t, key, keyId: id, sk: sk.token };
}

function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

function expectError(res: LightMyRequestResponse, status: number, message: string): void {
  assert.equal(res.statusCode, status, res.body);
  assert.deepEqual(res.json(), { message });
}

/** The key with its last character replaced by another of the alphabet. */
const changedOneCharacter = (key: string) => `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Every admin endpoint, with a request that succeeds for an admin key. */
const ENDPOINTS: ReadonlyArray<{ name: string; request: InjectOptions & { url: string }; ok: number }> = [
  { name: 'create account', request: { method: 'POST', url: '/admin/v1/accounts', payload: { username: 'carol' } }, ok: 201 },
  { name: 'list accounts', request: { method: 'GET', url: '/admin/v1/accounts' }, ok: 200 },
  { name: 'get account', request: { method: 'GET', url: '/admin/v1/accounts/alice' }, ok: 200 },
  { name: 'set password', request: { method: 'PUT', url: '/admin/v1/accounts/alice/password', payload: { password: 'a new password' } }, ok: 204 },
  { name: 'disable account', request: { method: 'PATCH', url: '/admin/v1/accounts/alice', payload: { disabled: true } }, ok: 200 },
  { name: 'delete account', request: { method: 'DELETE', url: '/admin/v1/accounts/bob' }, ok: 204 },
];

describe('the operators\u2019 API', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });
  afterEach(async () => {
    await w.t.close();
  });

  const send = (request: InjectOptions, headers: Record<string, string> = bearer(w.key)) =>
    w.t.server.inject({ ...request, headers: { ...(request.headers as Record<string, string> | undefined), ...headers } });

  /** What a refused request must leave unchanged. */
  async function snapshot(): Promise<unknown> {
    const { store } = w.t.app;
    return {
      accounts: await store.listAccountOverviews(null, 1000),
      keys: await store.listAdminKeys(),
      seq: await store.latestChangeSeq(),
      alicePassword: await store.getPasswordHash('alice'),
    };
  }

  describe('2xx', () => {
    it('POST /admin/v1/accounts: 201 with the account and its default public token, createdBy admin:<key id>', async () => {
      const res = await send({ method: 'POST', url: '/admin/v1/accounts', payload: { username: 'carol' } });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json<{ username: string; created: string; disabled: boolean; defaultPublicToken: Record<string, unknown> }>();
      assert.deepEqual(Object.keys(body), ['username', 'created', 'disabled', 'defaultPublicToken']);
      assert.equal(body.username, 'carol');
      assert.match(body.created, ISO);
      assert.equal(body.disabled, false);
      const token = body.defaultPublicToken;
      assert.equal(token.default, true);
      assert.equal(token.usage, 'pk');
      assert.equal(token.note, 'Default Public Token');
      assert.match(String(token.token), /^pk\./);
      const stored = await w.t.app.store.getToken('carol', String(token.id));
      assert.equal(stored?.createdBy, `admin:${w.keyId}`);
      assert.equal(await w.t.app.store.getPasswordHash('carol'), null);
      // The token works.
      const scopes = await w.t.server.inject({ method: 'GET', url: `/scopes/v1/carol?access_token=${String(token.token)}` });
      assert.equal(scopes.statusCode, 404, 'a default pk lacks scopes:list, but it authenticates');
    });

    it('POST /admin/v1/accounts with a password: the account can sign in to the page with it', async () => {
      const res = await send({ method: 'POST', url: '/admin/v1/accounts', payload: { username: 'dave', password: 'correct horse battery' } });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal((await w.t.app.sessions.signIn('dave', 'correct horse battery', '127.0.0.1')).ok, true);
      assert.ok(!res.body.includes('correct horse battery'));
    });

    it('GET /admin/v1/accounts: oldest first, with each account\u2019s token count and disabled false', async () => {
      const res = await send({ method: 'GET', url: '/admin/v1/accounts' });
      assert.equal(res.statusCode, 200, res.body);
      const accounts = res.json<Array<{ username: string; created: string; disabled: boolean; tokens: number }>>();
      assert.deepEqual(
        accounts.map((a) => ({ ...a, created: 'x' })),
        [
          { username: 'alice', created: 'x', disabled: false, tokens: 2 },
          { username: 'bob', created: 'x', disabled: false, tokens: 1 },
        ],
      );
      assert.ok(accounts.every((a) => ISO.test(a.created)));
      assert.equal(res.headers.link, undefined);
    });

    it('GET /admin/v1/accounts pages with Link (limit and start kept, no access_token, on the request host) until none remains', async () => {
      for (const name of ['carol', 'dave', 'erin']) {
        w.t.clock.advance(1_000);
        await w.t.account(name);
      }
      const seen: string[] = [];
      let url: string | null = '/admin/v1/accounts?limit=2';
      let pages = 0;
      while (url !== null) {
        const res = await send({ method: 'GET', url });
        assert.equal(res.statusCode, 200, res.body);
        const page = res.json<Array<{ username: string }>>();
        assert.ok(page.length <= 2);
        seen.push(...page.map((a) => a.username));
        pages += 1;
        const link = res.headers.link as string | undefined;
        if (link === undefined) {
          url = null;
          continue;
        }
        const match = /^<(http:\/\/localhost:80\/admin\/v1\/accounts\?limit=2&start=[^>]+)>; rel="next"$/.exec(link);
        assert.ok(match, link);
        assert.ok(!link.includes('access_token'));
        const next = new URL(match[1] as string);
        url = `${next.pathname}${next.search}`;
      }
      assert.deepEqual(seen, ['alice', 'bob', 'carol', 'dave', 'erin']);
      assert.equal(pages, 3);
    });

    it('GET /admin/v1/accounts/{username}: the list\u2019s object', async () => {
      const res = await send({ method: 'GET', url: '/admin/v1/accounts/alice' });
      assert.equal(res.statusCode, 200, res.body);
      const listed = (await send({ method: 'GET', url: '/admin/v1/accounts' })).json<unknown[]>()[0];
      assert.deepEqual(res.json(), listed);
    });

    it('PUT /admin/v1/accounts/{username}/password: 204, the new password signs in and every session of the account ends', async () => {
      const signedIn = await w.t.app.sessions.signIn('bob', 'x'.repeat(8), '127.0.0.1');
      assert.equal(signedIn.ok, false, 'bob has no password yet');
      await w.t.app.sessions.setPassword('bob', 'the old password');
      const before = await w.t.app.sessions.signIn('bob', 'the old password', '127.0.0.1');
      assert.ok(before.ok);
      const res = await send({ method: 'PUT', url: '/admin/v1/accounts/bob/password', payload: { password: 'the new password' } });
      assert.equal(res.statusCode, 204, res.body);
      assert.equal(res.body, '');
      assert.equal(await w.t.app.sessions.resolve(before.sessionId), null);
      assert.equal((await w.t.app.sessions.signIn('bob', 'the new password', '127.0.0.1')).ok, true);
      assert.equal((await w.t.app.sessions.signIn('bob', 'the old password', '10.0.0.2')).ok, false);
    });

    it('every answer has CORS * without credentials and no-store; the preflight is 204 without auth and names PUT', async () => {
      for (const { request } of ENDPOINTS) {
        for (const headers of [bearer(w.key), {}]) {
          const res = await send(request, headers);
          assert.equal(res.headers['access-control-allow-origin'], '*', `${request.url}`);
          assert.equal(res.headers['access-control-allow-credentials'], undefined);
          assert.equal(res.headers['cache-control'], 'no-store');
        }
      }
      const preflight = await w.t.server.inject({ method: 'OPTIONS', url: '/admin/v1/accounts/alice/password', headers: { origin: 'https://x.example' } });
      assert.equal(preflight.statusCode, 204);
      assert.match(String(preflight.headers['access-control-allow-methods']), /\bPUT\b/);
      assert.equal(preflight.headers['access-control-allow-credentials'], undefined);
    });
  });

  describe('401: nothing but a live admin key in the Authorization header', () => {
    const REFUSED: ReadonlyArray<[string, (w: World) => Promise<{ headers?: Record<string, string>; query?: string }>]> = [
      ['no key', async () => ({})],
      ['an empty Bearer', async () => ({ headers: { authorization: 'Bearer ' } })],
      ['a malformed key (too short)', async () => ({ headers: bearer('tba_short') })],
      ['a malformed key (a character outside [A-Za-z0-9])', async (w) => ({ headers: bearer(`${w.key.slice(0, -1)}-`) })],
      ['a key with one character changed', async (w) => ({ headers: bearer(changedOneCharacter(w.key)) })],
      [
        'a deleted key',
        async (w) => {
          const other = await w.t.app.adminKeys.create('gone');
          await w.t.app.adminKeys.delete(other.id);
          return { headers: bearer(other.key) };
        },
      ],
      ['an account sk holding every scope, as Bearer', async (w) => ({ headers: bearer(w.sk) })],
      ['an account sk holding every scope, in access_token', async (w) => ({ query: `access_token=${w.sk}` })],
      ['the admin key in ?access_token=', async (w) => ({ query: `access_token=${w.key}` })],
      ['the admin key as Basic credentials', async (w) => ({ headers: { authorization: `Basic ${Buffer.from(`x:${w.key}`).toString('base64')}` } })],
      ['the admin key without the Bearer scheme', async (w) => ({ headers: { authorization: w.key } })],
    ];

    for (const [name, present] of REFUSED) {
      it(`${name}: 401 Unauthorized on every endpoint, and nothing changes`, async () => {
        const before = await snapshot();
        const { headers = {}, query } = await present(w);
        for (const { request } of ENDPOINTS) {
          const url = query === undefined ? request.url : `${request.url}?${query}`;
          expectError(await send({ ...request, url }, headers), 401, 'Unauthorized');
        }
        assert.deepEqual(await snapshot(), before);
      });
    }

    it('401 comes before the body: no key and a broken body is 401, not 400 or 415', async () => {
      expectError(
        await send({ method: 'POST', url: '/admin/v1/accounts', headers: { 'content-type': 'application/json' }, payload: '{bad' }, {}),
        401,
        'Unauthorized',
      );
      expectError(await send({ method: 'POST', url: '/admin/v1/accounts', headers: { 'content-type': 'text/plain' }, payload: 'x' }, {}), 401, 'Unauthorized');
    });

    it('a session cookie is no admin credential', async () => {
      expectError(await send({ method: 'GET', url: '/admin/v1/accounts' }, { cookie: `tokenbox_session=${'s'.repeat(43)}` }), 401, 'Unauthorized');
    });
  });

  describe('429: per admin key', () => {
    it('the fourth request in a window of accountRateLimit 3 is 429 with Retry-After; another key is not limited', async () => {
      const limited = await world({ accountRateLimit: 3 });
      try {
        const list = { method: 'GET' as const, url: '/admin/v1/accounts', headers: bearer(limited.key) };
        for (let i = 0; i < 3; i++) {
          const res = await limited.t.server.inject(list);
          assert.equal(res.statusCode, 200);
          assert.equal(res.headers['x-rate-limit-limit'], '3');
        }
        const refused = await limited.t.server.inject(list);
        expectError(refused, 429, 'Too Many Requests');
        assert.ok(Number(refused.headers['retry-after']) >= 1);
        const other = await limited.t.app.adminKeys.create('other');
        assert.equal((await limited.t.server.inject({ ...list, headers: bearer(other.key) })).statusCode, 200);
        // 401 before 429: an unknown key is counted against the address, and still says 401 first.
        expectError(await limited.t.server.inject({ ...list, headers: bearer(`${limited.key}x`) }), 401, 'Unauthorized');
      } finally {
        await limited.t.close();
      }
    });
  });

  describe('4xx on the body, the account and the rules', () => {
    it('409 Username is taken for an existing account; nothing changes', async () => {
      const before = await snapshot();
      expectError(
        await send({ method: 'POST', url: '/admin/v1/accounts', payload: { username: 'alice', password: 'a fine password' } }),
        409,
        'Username is taken',
      );
      assert.deepEqual(await snapshot(), before);
    });

    it('422 username is invalid for a username outside the pattern, or none; nothing changes', async () => {
      const before = await snapshot();
      for (const username of ['Alice', '', '-x', 'a'.repeat(33), 'a b', 42, null]) {
        expectError(await send({ method: 'POST', url: '/admin/v1/accounts', payload: { username } }), 422, 'username is invalid');
      }
      expectError(await send({ method: 'POST', url: '/admin/v1/accounts', payload: {} }), 422, 'username is invalid');
      assert.deepEqual(await snapshot(), before);
    });

    it('422 password is invalid outside 8–1,024 characters, on create and on PUT; nothing changes', async () => {
      const before = await snapshot();
      for (const password of ['short', 'x'.repeat(1025), 12345678]) {
        expectError(await send({ method: 'POST', url: '/admin/v1/accounts', payload: { username: 'carol', password } }), 422, 'password is invalid');
        expectError(await send({ method: 'PUT', url: '/admin/v1/accounts/alice/password', payload: { password } }), 422, 'password is invalid');
      }
      expectError(await send({ method: 'PUT', url: '/admin/v1/accounts/alice/password', payload: {} }), 422, 'password is invalid');
      assert.deepEqual(await snapshot(), before);
    });

    it('422 for an unknown key and a body that is no object; 400 and 415 for what is no JSON', async () => {
      expectError(await send({ method: 'POST', url: '/admin/v1/accounts', payload: { username: 'carol', disabled: true } }), 422, 'disabled is not allowed');
      expectError(
        await send({ method: 'POST', url: '/admin/v1/accounts', headers: { 'content-type': 'application/json' }, payload: '[]' }),
        422,
        'body is invalid',
      );
      // No body reads as {} (as on the Tokens API): the missing field is named.
      expectError(await send({ method: 'POST', url: '/admin/v1/accounts' }), 422, 'username is invalid');
      expectError(await send({ method: 'PUT', url: '/admin/v1/accounts/alice/password' }), 422, 'password is invalid');
      expectError(
        await send({ method: 'POST', url: '/admin/v1/accounts', headers: { 'content-type': 'application/json' }, payload: '{bad' }),
        400,
        'Body is not valid JSON',
      );
      expectError(
        await send({ method: 'POST', url: '/admin/v1/accounts', headers: { 'content-type': 'text/plain' }, payload: 'username=carol' }),
        415,
        'Content-Type must be application/json',
      );
      assert.equal(await w.t.app.store.getAccount('carol'), null);
    });

    it('404 No such user for an unknown or invalid username; before the body on PUT', async () => {
      for (const name of ['nobody', 'Not-Valid', 'x'.repeat(40)]) {
        expectError(await send({ method: 'GET', url: `/admin/v1/accounts/${name}` }), 404, 'No such user');
        expectError(await send({ method: 'PUT', url: `/admin/v1/accounts/${name}/password`, payload: { password: 'a fine password' } }), 404, 'No such user');
      }
      expectError(await send({ method: 'PUT', url: '/admin/v1/accounts/nobody/password', payload: { password: 'short' } }), 404, 'No such user');
    });

    it('422 limit is invalid / start is invalid on the list', async () => {
      for (const limit of ['0', '101', '-1', 'ten', '1.5', '']) {
        expectError(await send({ method: 'GET', url: `/admin/v1/accounts?limit=${limit}` }), 422, 'limit is invalid');
      }
      expectError(await send({ method: 'GET', url: '/admin/v1/accounts?limit=1&limit=2' }), 422, 'limit is invalid');
      for (const start of ['garbage', '123', '1.Alice', 'x.alice', `1.${'a'.repeat(33)}`, 'a'.repeat(65)]) {
        expectError(await send({ method: 'GET', url: `/admin/v1/accounts?start=${encodeURIComponent(start)}` }), 422, 'start is invalid');
      }
      // The same value repeated counts once (SPEC §4.2).
      assert.equal((await send({ method: 'GET', url: '/admin/v1/accounts?limit=1&limit=1' })).statusCode, 200);
    });

    it('an unknown admin route is 404 Not found', async () => {
      expectError(await send({ method: 'GET', url: '/admin/v1/nothing' }), 404, 'Not found');
      expectError(await send({ method: 'POST', url: '/admin/v1/accounts/alice' }), 404, 'Not found');
    });
  });
});

describe('an admin key on the Tokens, Scopes and Analytics APIs', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });
  afterEach(async () => {
    await w.t.close();
  });

  const asAdmin = (request: InjectOptions) =>
    w.t.server.inject({ ...request, headers: { ...bearer(w.key), ...(request.headers as Record<string, string> | undefined) } });

  it('creates a token on alice\u2019s account with any catalog scope, recorded as createdBy admin:<key id>', async () => {
    const secret = w.t.app.catalog.list().find((s) => !s.public)!.id;
    const res = await asAdmin({ method: 'POST', url: '/tokens/v2/alice', payload: { note: 'by support', scopes: ['styles:read', secret] } });
    assert.equal(res.statusCode, 200, res.body);
    const created = res.json<{ id: string; usage: string; token: string }>();
    assert.equal(created.usage, 'sk');
    assert.equal((await w.t.app.store.getToken('alice', created.id))?.createdBy, `admin:${w.keyId}`);
  });

  it('lists, updates and deletes on any account, lists scopes and reads analytics', async () => {
    const bobs = await asAdmin({ method: 'GET', url: '/tokens/v2/bob' });
    assert.equal(bobs.statusCode, 200, bobs.body);
    const [bobDefault] = bobs.json<Array<{ id: string }>>();
    const target = await w.t.token('bob', ['styles:read']);
    assert.equal((await asAdmin({ method: 'PATCH', url: `/tokens/v2/bob/${target.id}`, payload: { note: 'renamed' } })).statusCode, 200);
    assert.equal((await asAdmin({ method: 'GET', url: '/scopes/v1/bob' })).statusCode, 200);
    assert.equal((await asAdmin({ method: 'GET', url: `/analytics/v1/tokens/bob/${target.id}` })).statusCode, 200);
    assert.equal((await asAdmin({ method: 'DELETE', url: `/tokens/v2/bob/${target.id}` })).statusCode, 204);
    // Refreshing the default token records the admin key too.
    assert.equal((await asAdmin({ method: 'DELETE', url: `/tokens/v2/bob/${bobDefault!.id}` })).statusCode, 204);
    const defaults = await w.t.app.store.listTokens('bob', { sortBy: 'created', after: null, limit: 10, isDefault: true });
    assert.equal(defaults.length, 1);
    assert.equal(defaults[0]?.createdBy, `admin:${w.keyId}`);
  });

  it('mints no temporary token (no root token to hang it on): 404 Not found', async () => {
    const expires = new Date(w.t.clock() + 60_000).toISOString();
    expectError(await asAdmin({ method: 'POST', url: '/tokens/v2/alice', payload: { expires, scopes: ['styles:read'] } }), 404, 'Not found');
  });

  it('404 No such user for an unknown account; 422 for a scope outside the catalog', async () => {
    expectError(await asAdmin({ method: 'GET', url: '/tokens/v2/nobody' }), 404, 'No such user');
    expectError(await asAdmin({ method: 'POST', url: '/tokens/v2/alice', payload: { scopes: ['nothing:here'] } }), 422, 'scopes are invalid');
  });

  it('a deleted, altered or query-string admin key is 401, and creates nothing', async () => {
    const seq = await w.t.app.store.latestChangeSeq();
    const count = (await w.t.app.store.getAccountOverview('alice'))?.tokenCount;
    expectError(await w.t.server.inject({ method: 'POST', url: `/tokens/v2/alice?access_token=${w.key}`, payload: {} }), 401, 'Unauthorized');
    expectError(await asAdmin({ method: 'POST', url: '/tokens/v2/alice', headers: bearer(changedOneCharacter(w.key)), payload: {} }), 401, 'Unauthorized');
    await w.t.app.adminKeys.delete(w.keyId);
    expectError(await asAdmin({ method: 'POST', url: '/tokens/v2/alice', payload: {} }), 401, 'Unauthorized');
    expectError(await asAdmin({ method: 'GET', url: '/tokens/v2/alice' }), 401, 'Unauthorized');
    assert.equal(await w.t.app.store.latestChangeSeq(), seq);
    assert.equal((await w.t.app.store.getAccountOverview('alice'))?.tokenCount, count);
  });
});

describe('an admin key is never logged', () => {
  it('refused in ?access_token= (401), in a path or another parameter: no log line holds it', async () => {
    const w = await world();
    const lines: string[] = [];
    const server = buildServer(w.t.app, { logDestination: { write: (line: string) => lines.push(line) } });
    try {
      const secret = w.key.slice(4);
      const urls = [
        `/admin/v1/accounts?access_token=${w.key}`,
        `/tokens/v2/alice?access_token=${w.key}`,
        `/admin/v1/accounts/${w.key}`,
        `/nowhere?key=${w.key}`,
        `/nowhere/${w.key.replace('_', '%5F')}`,
        `/admin/v1/accounts?start=${w.key}`,
      ];
      for (const url of urls) {
        const res = await server.inject({ method: 'GET', url, headers: url.includes('start=') ? bearer(w.key) : {} });
        assert.ok(res.statusCode === 401 || res.statusCode === 404 || res.statusCode === 422, `${url}: ${res.statusCode}`);
      }
      const refused = await server.inject({ method: 'GET', url: `/admin/v1/accounts?access_token=${w.key}` });
      expectError(refused, 401, 'Unauthorized');
      assert.ok(lines.length > 0, 'the production logger wrote lines');
      for (const line of lines) assert.ok(!line.includes(secret), `an admin key is logged:\n${line}`);
    } finally {
      await server.close();
      await w.t.close();
    }
  });
});
