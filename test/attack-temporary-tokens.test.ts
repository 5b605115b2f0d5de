/**
 * Regression tests for the holes an attack on temporary tokens and API limits found (SPEC §3,
 * §4.4): each test is named after the attack and failed before the fix.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { buildServer } from '../src/http/server.js';
import { openTokenbox } from '../src/main.js';
import { startTestApp, testClock, testConfig, type TestApp } from './helpers/app.js';

type Res = LightMyRequestResponse;

const ADMIN = ['tokens:read', 'tokens:write', 'scopes:list', 'styles:read', 'map:read', 'map:write'];

async function mint(t: TestApp, sk: string, scopes: readonly string[], lifeMs = 600_000): Promise<Res> {
  return t.server.inject({
    method: 'POST',
    url: `/tokens/v2/alice?access_token=${sk}`,
    payload: { expires: new Date(t.clock() + lifeMs).toISOString(), scopes },
  });
}

async function mintOk(t: TestApp, sk: string, scopes: readonly string[], lifeMs = 600_000): Promise<string> {
  const res = await mint(t, sk, scopes, lifeMs);
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ token: string }>().token;
}

/** Forward auth as nginx asks it: may `token` act with `scope` now? */
async function check(t: TestApp, token: string, scope: string): Promise<number> {
  const res = await t.server.inject({ url: `/auth/v1/check?scope=${scope}`, headers: { 'x-original-uri': `/x?access_token=${token}` } });
  return res.statusCode;
}

async function patchScopes(t: TestApp, caller: string, id: string, scopes: readonly string[]): Promise<Res> {
  return t.server.inject({ method: 'PATCH', url: `/tokens/v2/alice/${id}?access_token=${caller}`, payload: { scopes } });
}

async function withApp(fn: (t: TestApp, admin: string) => Promise<void>, overrides: Record<string, unknown> = {}): Promise<void> {
  const t = await startTestApp(overrides);
  try {
    await t.account('alice');
    const admin = (await t.token('alice', ADMIN)).token;
    await fn(t, admin);
  } finally {
    await t.close();
  }
}

describe('attack: a tk outlives the narrowing of its parent', () => {
  it('narrowing the parent sk takes the scope from its tks at once; widening gives it back', () =>
    withApp(async (t, admin) => {
      const parent = await t.token('alice', ['tokens:write', 'styles:read', 'map:read']);
      const tk = await mintOk(t, parent.token, ['map:read', 'styles:read']);
      assert.equal(await check(t, tk, 'map:read'), 200);
      assert.equal((await patchScopes(t, admin, parent.id, ['tokens:write', 'styles:read'])).statusCode, 200);
      assert.equal(await check(t, tk, 'map:read'), 403, 'the parent no longer holds map:read');
      assert.equal(await check(t, tk, 'styles:read'), 200);
      const retrieved = await t.server.inject({ url: `/tokens/v2?access_token=${tk}` });
      assert.deepEqual(retrieved.json<{ token: { scopes: string[] } }>().token.scopes, ['styles:read']);
      assert.equal((await patchScopes(t, admin, parent.id, ['tokens:write', 'styles:read', 'map:read'])).statusCode, 200);
      assert.equal(await check(t, tk, 'map:read'), 200, 'its own scopes that the parent holds now');
    }));

  it('a tk minted by a tk inherits p and is narrowed with it', () =>
    withApp(async (t, admin) => {
      const parent = await t.token('alice', ['tokens:write', 'map:read']);
      const first = await mintOk(t, parent.token, ['tokens:write', 'map:read']);
      const second = await mintOk(t, first, ['map:read'], 300_000);
      assert.equal(await check(t, second, 'map:read'), 200);
      assert.equal((await patchScopes(t, admin, parent.id, ['tokens:write'])).statusCode, 200);
      assert.equal(await check(t, second, 'map:read'), 403);
      assert.equal((await mint(t, first, ['map:read'], 300_000)).statusCode, 422, 'nor can it be minted again');
    }));

  it('a tk whose parent loses tokens:write can no longer mint or read through the API', () =>
    withApp(async (t, admin) => {
      const parent = await t.token('alice', ['tokens:write', 'tokens:read']);
      const tk = await mintOk(t, parent.token, ['tokens:write', 'tokens:read']);
      assert.equal((await t.server.inject({ url: `/tokens/v2/alice?access_token=${tk}` })).statusCode, 200);
      assert.equal((await patchScopes(t, admin, parent.id, ['tokens:write'])).statusCode, 200);
      const listed = await t.server.inject({ url: `/tokens/v2/alice?access_token=${tk}` });
      assert.deepEqual([listed.statusCode, listed.json()], [404, { message: 'Not found' }]);
    }));

  it('the parent record is read once, then answered from the cache the change log keeps true', () =>
    withApp(async (t, admin) => {
      const parent = await t.token('alice', ['tokens:write', 'map:read']);
      const tk = await mintOk(t, parent.token, ['map:read']);
      assert.equal(await check(t, tk, 'map:read'), 200);
      assert.equal(await check(t, admin, 'map:read'), 200, 'the admin sk is cached too');
      const reads = t.app.directory.stats.reads;
      for (let i = 0; i < 20; i++) assert.equal(await check(t, tk, 'map:read'), 200);
      assert.equal(t.app.directory.stats.reads, reads, 'no store read per request');
      assert.equal((await patchScopes(t, admin, parent.id, ['tokens:write'])).statusCode, 200);
      for (let i = 0; i < 5; i++) assert.equal(await check(t, tk, 'map:read'), 403);
      assert.equal(t.app.directory.stats.reads, reads + 1, 'one read after the parent changed');
    }));
});

describe('attack: a tk leaves something permanent behind', () => {
  it('a tk holding tokens:write cannot create a permanent sk (404 Not found) and nothing is written', () =>
    withApp(async (t, admin) => {
      const tk = await mintOk(t, admin, ['tokens:write', 'tokens:read', 'map:read']);
      const before = (await t.server.inject({ url: `/tokens/v2/alice?access_token=${admin}` })).json<unknown[]>();
      for (const payload of [{ scopes: ['map:read'] }, {}, { note: 'pk', scopes: ['styles:read'] }, { scopes: ['bogus'] }]) {
        const res = await t.server.inject({ method: 'POST', url: `/tokens/v2/alice?access_token=${tk}`, payload });
        assert.deepEqual([res.statusCode, res.json()], [404, { message: 'Not found' }], JSON.stringify(payload));
      }
      const after = (await t.server.inject({ url: `/tokens/v2/alice?access_token=${admin}` })).json<unknown[]>();
      assert.deepEqual(after, before);
    }));

  it('a tk cannot PATCH its own parent back to the scopes it had (404, parent unchanged)', () =>
    withApp(async (t, admin) => {
      const parent = await t.token('alice', ['tokens:write', 'map:read', 'map:write']);
      const tk = await mintOk(t, parent.token, ['tokens:write', 'map:read', 'map:write']);
      assert.equal((await patchScopes(t, admin, parent.id, ['tokens:write'])).statusCode, 200);
      const res = await patchScopes(t, tk, parent.id, ['tokens:write', 'map:read', 'map:write']);
      assert.deepEqual([res.statusCode, res.json()], [404, { message: 'Not found' }]);
      const bad = await t.server.inject({
        method: 'PATCH',
        url: `/tokens/v2/alice/${parent.id}?access_token=${tk}`,
        payload: '{',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(bad.statusCode, 404, 'refused before the body is read');
      const stored = await t.app.store.getToken('alice', parent.id);
      assert.deepEqual(stored?.scopes, ['tokens:write']);
    }));

  it('a tk cannot delete a pk or sk (404), nor refresh the default token', () =>
    withApp(async (t, admin) => {
      const victim = await t.token('alice', ['map:read']);
      const tk = await mintOk(t, admin, ['tokens:write', 'tokens:read']);
      const defaultId = (await t.server.inject({ url: `/tokens/v2/alice?default=true&access_token=${admin}` })).json<Array<{ id: string }>>()[0]?.id;
      for (const id of [victim.id, defaultId]) {
        const res = await t.server.inject({ method: 'DELETE', url: `/tokens/v2/alice/${id}?access_token=${tk}` });
        assert.deepEqual([res.statusCode, res.json()], [404, { message: 'Not found' }]);
      }
      assert.notEqual(await t.app.store.getToken('alice', victim.id), null);
      assert.notEqual(await t.app.store.getToken('alice', String(defaultId)), null);
    }));
});

describe('attack: a tk that can never verify', () => {
  const many = Array.from({ length: 300 }, (_, i) => ({ id: `e:${i}`, description: `scope ${i}`, public: false }));
  const long = Array.from({ length: 40 }, (_, i) => ({ id: `long:${String(i).padStart(3, '0')}${'x'.repeat(120)}`, description: 'long', public: false }));

  it('over 256 scopes is refused when minted (422 scopes are invalid), 256 is minted and verifies', () =>
    withApp(
      async (t) => {
        const ids = many.map((s) => s.id);
        const sk = (await t.token('alice', ['tokens:write', ...ids])).token;
        const refused = await mint(t, sk, ids.slice(0, 257));
        assert.deepEqual([refused.statusCode, refused.json()], [422, { message: 'scopes are invalid' }]);
        const tk = await mintOk(t, sk, ids.slice(0, 256));
        assert.equal(await check(t, tk, 'e:255'), 200);
      },
      { scopes: many },
    ));

  it('over 4 KB is refused when minted (422 scopes are invalid)', () =>
    withApp(
      async (t) => {
        const ids = long.map((s) => s.id);
        const sk = (await t.token('alice', ['tokens:write', ...ids])).token;
        const refused = await mint(t, sk, ids);
        assert.deepEqual([refused.statusCode, refused.json()], [422, { message: 'scopes are invalid' }]);
        const tk = await mintOk(t, sk, ids.slice(0, 10));
        assert.ok(tk.length <= 4096);
      },
      { scopes: long },
    ));
});

describe('attack: granting a scope that has left the catalog', () => {
  it('nobody can grant it, a tk included; the token that holds it keeps it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-attack-'));
    const custom = [{ id: 'custom:read', description: 'custom', public: false }];
    const clock = testClock();
    try {
      let sk: string;
      {
        const app = await openTokenbox(testConfig(dataDir, { scopes: custom }), { clock });
        await app.accounts.create('alice');
        const grant = await app.access.operator('alice');
        sk = (await app.tokens.create(grant, { scopes: ['tokens:write', 'custom:read'] })).token as string;
        await app.close();
      }
      const app = await openTokenbox(testConfig(dataDir), { clock });
      const server = buildServer(app, { logger: false });
      try {
        const expires = new Date(clock() + 600_000).toISOString();
        const minted = await server.inject({ method: 'POST', url: `/tokens/v2/alice?access_token=${sk}`, payload: { expires, scopes: ['custom:read'] } });
        assert.deepEqual([minted.statusCode, minted.json()], [422, { message: 'scopes are invalid' }]);
        const created = await server.inject({ method: 'POST', url: `/tokens/v2/alice?access_token=${sk}`, payload: { scopes: ['custom:read'] } });
        assert.deepEqual([created.statusCode, created.json()], [422, { message: 'scopes are invalid' }]);
        const grant = await app.access.operator('alice');
        await assert.rejects(app.tokens.create(grant, { scopes: ['custom:read'] }), { message: 'scopes are invalid' }, 'not even the operator');
        const held = await server.inject({ url: '/auth/v1/check?scope=custom:read', headers: { 'x-original-uri': `/x?access_token=${sk}` } });
        assert.equal(held.statusCode, 200, 'a token keeps a scope that left the catalog');
      } finally {
        await server.close();
        await app.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('attack: one token spends the API budget of another (accountRateLimit: 3)', () => {
  const rateLimit = { accountRateLimit: 3 };

  it('a tk handed to a browser, holding only styles:read, cannot make the admin sk get 429', () =>
    withApp(async (t, admin) => {
      const tk = await mintOk(t, admin, ['styles:read']);
      for (let i = 0; i < 5; i++) await t.server.inject({ url: `/tokens/v2/alice?access_token=${tk}` });
      const spent = await t.server.inject({ url: `/tokens/v2/alice?access_token=${tk}` });
      assert.equal(spent.statusCode, 429, 'the tk has its own bucket, and spent it');
      const res = await t.server.inject({ url: `/tokens/v2/alice?access_token=${admin}` });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['x-rate-limit-limit'], '3');
    }, rateLimit));

  it('an sk without tokens:* scopes cannot make the admin sk get 429', () =>
    withApp(async (t, admin) => {
      const styles = (await t.token('alice', ['styles:list'])).token;
      for (let i = 0; i < 6; i++) await t.server.inject({ url: `/tokens/v2/alice?access_token=${styles}` });
      assert.equal((await t.server.inject({ url: `/tokens/v2/alice?access_token=${admin}` })).statusCode, 200);
    }, rateLimit));

  it("two tks of one parent have a bucket each, and neither spends the parent's", () =>
    withApp(async (t, admin) => {
      const first = await mintOk(t, admin, ['tokens:read']);
      const second = await mintOk(t, admin, ['tokens:read'], 500_000);
      for (let i = 0; i < 3; i++) assert.equal((await t.server.inject({ url: `/tokens/v2/alice?access_token=${first}` })).statusCode, 200);
      assert.equal((await t.server.inject({ url: `/tokens/v2/alice?access_token=${first}` })).statusCode, 429);
      assert.equal((await t.server.inject({ url: `/tokens/v2/alice?access_token=${second}` })).statusCode, 200);
      assert.equal((await t.server.inject({ url: `/tokens/v2/alice?access_token=${admin}` })).statusCode, 200);
    }, rateLimit));
});

describe('allowedApplications: platform as the SDK documents it', () => {
  it('iOS, android and macOS are accepted in any case and returned as written; others are refused', () =>
    withApp(async (t, admin) => {
      const apps = [
        { platform: 'iOS', bundleId: 'com.example.app' },
        { platform: 'android', bundleId: 'com.example.app' },
        { platform: 'MACOS', bundleId: 'com.example.mac' },
      ];
      const res = await t.server.inject({
        method: 'POST',
        url: `/tokens/v2/alice?access_token=${admin}`,
        payload: { scopes: ['map:read'], allowedApplications: apps },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json<{ allowedApplications: unknown }>().allowedApplications, apps);
      const refused = await t.server.inject({
        method: 'POST',
        url: `/tokens/v2/alice?access_token=${admin}`,
        payload: { allowedApplications: [{ platform: 'windows', bundleId: 'a.b' }] },
      });
      assert.deepEqual([refused.statusCode, refused.json()], [422, { message: 'allowedApplications are invalid' }]);
    }));
});
