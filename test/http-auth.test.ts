/**
 * One shared table of auth checks (SPEC §3, §4.3) run against every protected route, and the
 * §4.3 check order: 401 → 429 → 404 `No such user` → 404 `Not found` → body → id → rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { startTestApp, withOpened, type TestApp } from './helpers/app.js';

/** Everything the protected routes need, plus scopes used by the rule checks below. */
const CALLER_SCOPES = ['tokens:read', 'tokens:write', 'scopes:list', 'styles:list', 'styles:read', 'analytics:read'];
const FIVE_MB = `{"note":"${'a'.repeat(5 * 1024 * 1024)}"}`;

interface World {
  readonly t: TestApp;
  /** alice's sk holding CALLER_SCOPES. */
  readonly sk: string;
  /** A pk of alice's, the {id} target of PATCH and DELETE. */
  readonly targetId: string;
  /** A pk of bob's, so a request for bob's path is well formed. */
  readonly bobTargetId: string;
}

async function world(overrides: Record<string, unknown> = {}): Promise<World> {
  const t = await startTestApp(overrides);
  await t.account('alice');
  await t.account('bob');
  const sk = await t.token('alice', CALLER_SCOPES);
  const target = await t.token('alice', ['styles:read'], { note: 'target' });
  const bobTarget = await t.token('bob', ['styles:read']);
  return { t, sk: sk.token, targetId: target.id, bobTargetId: bobTarget.id };
}

function withWorld(fn: (w: World) => Promise<void>, overrides: Record<string, unknown> = {}): Promise<void> {
  return withOpened(() => world(overrides), fn);
}

interface Route {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: (user: string, id: string) => string;
  readonly body?: Record<string, unknown>;
  readonly ok: number;
}

const ROUTES: readonly Route[] = [
  { name: 'list tokens', method: 'GET', path: (u) => `/tokens/v2/${u}`, ok: 200 },
  { name: 'create token', method: 'POST', path: (u) => `/tokens/v2/${u}`, body: {}, ok: 200 },
  { name: 'update token', method: 'PATCH', path: (u, id) => `/tokens/v2/${u}/${id}`, body: { note: 'changed' }, ok: 200 },
  { name: 'delete token', method: 'DELETE', path: (u, id) => `/tokens/v2/${u}/${id}`, ok: 204 },
  { name: 'list scopes', method: 'GET', path: (u) => `/scopes/v1/${u}`, ok: 200 },
  { name: 'token analytics', method: 'GET', path: (u, id) => `/analytics/v1/tokens/${u}/${id}`, ok: 200 },
];

/** How a request presents its token: `access_token` values (in order) and/or a Bearer header. */
interface Auth {
  readonly query?: readonly string[];
  readonly bearer?: string;
}

function send(w: World, route: Route, auth: Auth, user = 'alice', id = w.targetId): Promise<LightMyRequestResponse> {
  const qs = (auth.query ?? []).map((v) => `access_token=${encodeURIComponent(v)}`).join('&');
  const options: InjectOptions = {
    method: route.method,
    url: `${route.path(user, id)}${qs ? `?${qs}` : ''}`,
    headers: auth.bearer === undefined ? {} : { authorization: `Bearer ${auth.bearer}` },
  };
  if (route.body !== undefined) options.payload = route.body;
  return w.t.server.inject(options);
}

function expectError(res: LightMyRequestResponse, status: number, message: string): void {
  assert.equal(res.statusCode, status, res.body);
  assert.deepEqual(res.json(), { message });
}

/** `<usage>.<payload>.<secret>` split at its dots. */
function parts(token: string): [string, string, string] {
  const [usage, payload, secret] = token.split('.');
  return [usage as string, payload as string, secret as string];
}

function forge(token: string): string {
  const [usage, payload, secret] = parts(token);
  return `${usage}.${payload}.${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
}

async function mintTemporary(w: World, scopes: readonly string[], lifetimeMs: number): Promise<string> {
  const expires = new Date(w.t.clock() + lifetimeMs).toISOString();
  const res = await w.t.server.inject({ method: 'POST', url: `/tokens/v2/alice?access_token=${w.sk}`, payload: { expires, scopes } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ token: string }>().token;
}

async function deleteToken(w: World, token: string): Promise<void> {
  const [, payload] = parts(token);
  const { a: id } = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as { a: string };
  const res = await w.t.server.inject({ method: 'DELETE', url: `/tokens/v2/alice/${id}?access_token=${w.sk}` });
  assert.equal(res.statusCode, 204, res.body);
}

/** Create, update and delete change a pk/sk; a tk is refused on them (404). */
function writesPermanent(route: Route): boolean {
  return route.method === 'POST' || route.method === 'PATCH' || route.method === 'DELETE';
}

/** Asserts the token works on `route` first, so a later 401 is caused by the step in between. */
async function assertWorks(w: World, route: Route, token: string): Promise<void> {
  const listRoute = ROUTES[0] as Route;
  // DELETE would consume its target, and a tk never writes a pk/sk: prove the token on the list
  // route instead (same auth path).
  const probe = route.method === 'DELETE' || (token.startsWith('tk.') && writesPermanent(route)) ? listRoute : route;
  const res = await send(w, probe, { query: [token] });
  assert.equal(res.statusCode, probe.ok, res.body);
}

for (const route of ROUTES) {
  describe(`${route.method} ${route.path('{username}', '{id}')} (${route.name})`, () => {
    describe('2xx: the token is accepted', () => {
      it('in the access_token query parameter', () => withWorld(async (w) => assert.equal((await send(w, route, { query: [w.sk] })).statusCode, route.ok)));

      it('in an Authorization: Bearer header', () => withWorld(async (w) => assert.equal((await send(w, route, { bearer: w.sk })).statusCode, route.ok)));

      it('from the Bearer header when the query holds a bad token (the header wins)', () =>
        withWorld(async (w) => assert.equal((await send(w, route, { bearer: w.sk, query: [forge(w.sk)] })).statusCode, route.ok)));

      if (!writesPermanent(route)) {
        it('as a temporary token minted by the API', () =>
          withWorld(async (w) => {
            const tk = await mintTemporary(w, CALLER_SCOPES, 600_000);
            assert.equal((await send(w, route, { query: [tk] })).statusCode, route.ok);
          }));
      }
    });

    if (writesPermanent(route)) {
      it('404 Not found for a temporary token holding tokens:write: a tk never writes a pk or sk (SPEC §4.4)', () =>
        withWorld(async (w) => {
          const tk = await mintTemporary(w, CALLER_SCOPES, 600_000);
          expectError(await send(w, route, { query: [tk] }), 404, 'Not found');
        }));
    }

    describe('401 Unauthorized', () => {
      const cases: Array<[string, (w: World) => Promise<Auth>]> = [
        ['no token', async () => ({})],
        [
          'a token with 4 dot-parts',
          async (w) => {
            const [u, p, s] = parts(w.sk);
            return { query: [`${u}.${p}.extra.${s}`] };
          },
        ],
        ['a 10 KB token', async (w) => ({ query: [`sk.${'A'.repeat(10 * 1024)}.${parts(w.sk)[2]}`] })],
        ['a non-base64 payload', async (w) => ({ query: [`sk.not*base64~!.${parts(w.sk)[2]}`] })],
        ['a forged secret (one character of a real sk changed)', async (w) => ({ query: [forge(w.sk)] })],
        ['an empty Bearer header', async () => ({ bearer: '' })],
        ['a repeated access_token, both copies the same valid token', async (w) => ({ query: [w.sk, w.sk] })],
        ['a bad Bearer header even when the query holds a valid token (the header wins)', async (w) => ({ bearer: forge(w.sk), query: [w.sk] })],
        [
          'a revoked (deleted) sk',
          async (w) => {
            const other = await w.t.token('alice', CALLER_SCOPES);
            await assertWorks(w, route, other.token);
            await deleteToken(w, other.token);
            return { query: [other.token] };
          },
        ],
        [
          'an expired temporary token (now == exp)',
          async (w) => {
            const tk = await mintTemporary(w, CALLER_SCOPES, 600_000);
            await assertWorks(w, route, tk);
            w.t.clock.advance(600_000);
            return { query: [tk] };
          },
        ],
      ];
      for (const [name, auth] of cases) {
        it(name, () => withWorld(async (w) => expectError(await send(w, route, await auth(w)), 401, 'Unauthorized')));
      }

      it('an unauthenticated request for an unknown user (401 before No such user)', () =>
        withWorld(async (w) => expectError(await send(w, route, {}, 'nobody'), 401, 'Unauthorized')));

      it('a forged token for an unknown user', () =>
        withWorld(async (w) => expectError(await send(w, route, { query: [forge(w.sk)] }, 'nobody'), 401, 'Unauthorized')));
    });

    describe('404 No such user', () => {
      it('an unknown username in the path', () => withWorld(async (w) => expectError(await send(w, route, { query: [w.sk] }, 'nobody'), 404, 'No such user')));
    });

    describe('404 Not found', () => {
      it("a token without the route's scope", () =>
        withWorld(async (w) => {
          const weak = await w.t.token('alice', ['map:read']);
          expectError(await send(w, route, { query: [weak.token] }), 404, 'Not found');
        }));

      it('a public token (holds no secret scope)', () =>
        withWorld(async (w) => {
          const pk = await w.t.token('alice', ['styles:read']);
          expectError(await send(w, route, { query: [pk.token] }), 404, 'Not found');
        }));

      it("a temporary token without the route's scope", () =>
        withWorld(async (w) => {
          const tk = await mintTemporary(w, ['styles:list'], 600_000);
          expectError(await send(w, route, { query: [tk] }), 404, 'Not found');
        }));

      it("another account's path, even with every scope", () =>
        withWorld(async (w) => {
          expectError(await send(w, route, { query: [w.sk] }, 'bob', w.bobTargetId), 404, 'Not found');
          const list = await w.t.app.store.listTokens('bob', { sortBy: 'created', after: null, limit: 100 });
          assert.equal(list.length, 2, "bob's tokens are untouched");
        }));
    });
  });
}

function inject(w: World, options: InjectOptions): Promise<LightMyRequestResponse> {
  return w.t.server.inject(options);
}

describe('SPEC §4.3 check order', () => {
  describe('authentication comes first: 401', () => {
    for (const method of ['POST', 'PATCH'] as const) {
      const url = (w: World) => (method === 'POST' ? '/tokens/v2/alice' : `/tokens/v2/alice/${w.targetId}`);
      it(`${method} without a token and a 5 MB body: 401, not 413`, () =>
        withWorld(async (w) =>
          expectError(await inject(w, { method, url: url(w), headers: { 'content-type': 'application/json' }, payload: FIVE_MB }), 401, 'Unauthorized'),
        ));

      it(`${method} without a token and a text/plain body: 401, not 415`, () =>
        withWorld(async (w) =>
          expectError(await inject(w, { method, url: url(w), headers: { 'content-type': 'text/plain' }, payload: 'hello' }), 401, 'Unauthorized'),
        ));

      it(`${method} with a forged token and invalid JSON: 401, not 400`, () =>
        withWorld(async (w) =>
          expectError(
            await inject(w, { method, url: `${url(w)}?access_token=${forge(w.sk)}`, headers: { 'content-type': 'application/json' }, payload: '{nope' }),
            401,
            'Unauthorized',
          ),
        ));
    }
  });

  describe("rate limit before the path's account: 429", () => {
    it('over the limit, an unknown user answers 429, not 404', () =>
      withWorld(
        async (w) => {
          assert.equal((await inject(w, { method: 'GET', url: `/tokens/v2/alice?access_token=${w.sk}` })).statusCode, 200);
          expectError(await inject(w, { method: 'GET', url: `/tokens/v2/nobody?access_token=${w.sk}` }), 429, 'Too Many Requests');
          expectError(await inject(w, { method: 'GET', url: `/tokens/v2/bob?access_token=${w.sk}` }), 429, 'Too Many Requests');
        },
        { accountRateLimit: 1 },
      ));
  });

  describe('the account and ownership before the body: 404', () => {
    const bodies: Array<[string, InjectOptions['headers'], string]> = [
      ['an invalid body ({"note": 5})', { 'content-type': 'application/json' }, '{"note":5}'],
      ['unparseable JSON', { 'content-type': 'application/json' }, '{nope'],
      ['a text/plain body', { 'content-type': 'text/plain' }, 'hello'],
      ['a 5 MB body', { 'content-type': 'application/json' }, FIVE_MB],
    ];
    for (const [name, headers, payload] of bodies) {
      it(`another account's path with ${name}: 404 Not found`, () =>
        withWorld(async (w) =>
          expectError(await inject(w, { method: 'POST', url: `/tokens/v2/bob?access_token=${w.sk}`, headers, payload }), 404, 'Not found'),
        ));

      it(`an unknown user with ${name}: 404 No such user`, () =>
        withWorld(async (w) =>
          expectError(await inject(w, { method: 'POST', url: `/tokens/v2/nobody?access_token=${w.sk}`, headers, payload }), 404, 'No such user'),
        ));
    }

    it('a token lacking tokens:write with an invalid body: 404 Not found', () =>
      withWorld(async (w) => {
        const reader = await w.t.token('alice', ['tokens:read']);
        expectError(
          await inject(w, { method: 'PATCH', url: `/tokens/v2/alice/${w.targetId}?access_token=${reader.token}`, payload: { note: 5 } }),
          404,
          'Not found',
        );
      }));
  });

  describe('the body before the token id: 4xx of the body', () => {
    const unknownId = 'c000000000000000000000000';
    it('PATCH an unknown id with an invalid body: 422, not 404', () =>
      withWorld(async (w) =>
        expectError(
          await inject(w, { method: 'PATCH', url: `/tokens/v2/alice/${unknownId}?access_token=${w.sk}`, payload: { note: 5 } }),
          422,
          'note is invalid',
        ),
      ));

    it('PATCH an unknown id with an unknown key: 422, not 404', () =>
      withWorld(async (w) =>
        expectError(
          await inject(w, { method: 'PATCH', url: `/tokens/v2/alice/${unknownId}?access_token=${w.sk}`, payload: { color: 'red' } }),
          422,
          'color is not allowed',
        ),
      ));

    it('PATCH an unknown id with a 5 MB body: 413, not 404', () =>
      withWorld(async (w) =>
        expectError(
          await inject(w, {
            method: 'PATCH',
            url: `/tokens/v2/alice/${unknownId}?access_token=${w.sk}`,
            headers: { 'content-type': 'application/json' },
            payload: FIVE_MB,
          }),
          413,
          'Request body is too large',
        ),
      ));
  });

  describe('the token id before the rules: 404 Not found', () => {
    const unknownId = 'c000000000000000000000000';
    it('PATCH an unknown id with a valid body', () =>
      withWorld(async (w) =>
        expectError(await inject(w, { method: 'PATCH', url: `/tokens/v2/alice/${unknownId}?access_token=${w.sk}`, payload: { note: 'x' } }), 404, 'Not found'),
      ));

    it('PATCH an unknown id with a body a rule would refuse (a scope nobody can grant)', () =>
      withWorld(async (w) =>
        expectError(
          await inject(w, { method: 'PATCH', url: `/tokens/v2/alice/${unknownId}?access_token=${w.sk}`, payload: { scopes: ['nope:nope'] } }),
          404,
          'Not found',
        ),
      ));

    it('DELETE an unknown id', () =>
      withWorld(async (w) => expectError(await inject(w, { method: 'DELETE', url: `/tokens/v2/alice/${unknownId}?access_token=${w.sk}` }), 404, 'Not found')));

    it("PATCH or DELETE another account's token id on one's own path", () =>
      withWorld(async (w) => {
        const url = `/tokens/v2/alice/${w.bobTargetId}?access_token=${w.sk}`;
        expectError(await inject(w, { method: 'PATCH', url, payload: { note: 'mine now' } }), 404, 'Not found');
        expectError(await inject(w, { method: 'DELETE', url }), 404, 'Not found');
        assert.ok(await w.t.app.store.getToken('bob', w.bobTargetId), "bob's token survives");
      }));
  });

  describe('the rules last: 422', () => {
    it('a secret scope on a pk, on a valid id, by a caller holding that scope', () =>
      withWorld(async (w) =>
        expectError(
          await inject(w, { method: 'PATCH', url: `/tokens/v2/alice/${w.targetId}?access_token=${w.sk}`, payload: { scopes: ['styles:list'] } }),
          422,
          'scopes are invalid',
        ),
      ));
  });
});
