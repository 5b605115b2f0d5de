/**
 * The audit log (SPEC §10): every change leaves exactly one entry, naming who made it (a token, an
 * admin key, the CLI, the page) and from where; a refused change leaves none; no entry holds a
 * token string, a password or a hash; the operators read it through `GET /admin/v1/audit` and
 * `tokenbox audit`. The real app on a real SQLite file (`inject`), and the built CLI.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { AuditEntryView } from '../src/services/audit-service.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { cli, cliJson, ensureBuilt } from './helpers/cli.js';

const PASSWORD = 'correct horse battery staple';
const ORIGIN = 'http://localhost:80';
const IP = '10.1.2.3';

interface World {
  readonly t: TestApp;
  readonly key: string;
  readonly keyId: string;
  /** alice's sk with every catalog scope. */
  readonly sk: { id: string; token: string };
}

async function world(): Promise<World> {
  const t = await startTestApp();
  await t.app.accounts.create('alice', 'cli', PASSWORD);
  await t.account('bob');
  const sk = await t.token(
    'alice',
    t.app.catalog.list().map((s) => s.id),
  );
  const { key, id } = await t.app.adminKeys.create('audit tests');
  return { t, key, keyId: id, sk: { id: sk.id, token: sk.token } };
}

/** Every entry, newest first, as the API shows it. */
async function entries(w: World, query = ''): Promise<AuditEntryView[]> {
  const res = await w.t.server.inject({ method: 'GET', url: `/admin/v1/audit${query}`, headers: { authorization: `Bearer ${w.key}` } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<AuditEntryView[]>();
}

/** Runs `act` and returns the entries it added, oldest first. */
async function added(w: World, act: () => Promise<unknown>): Promise<AuditEntryView[]> {
  const before = (await entries(w, '?limit=1'))[0]?.id ?? 0;
  await act();
  return (await entries(w)).filter((e) => e.id > before).reverse();
}

function call(w: World, options: InjectOptions, credential: string): Promise<LightMyRequestResponse> {
  return w.t.server.inject({
    remoteAddress: IP,
    ...options,
    headers: { authorization: `Bearer ${credential}`, ...(options.headers as Record<string, string>) },
  });
}

/** The common fields of an entry, without id and time. */
function core(e: AuditEntryView): Pick<AuditEntryView, 'actor' | 'account' | 'action' | 'target' | 'ip'> {
  return { actor: e.actor, account: e.account, action: e.action, target: e.target, ip: e.ip };
}

describe('the audit log', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });
  afterEach(async () => {
    await w.t.close();
  });

  describe('each change leaves exactly one entry, with who made it', () => {
    it('a token on the Tokens API: create, update (fields, scopes before and after), delete, refresh', async () => {
      const token = { kind: 'token', id: w.sk.id };
      let id = '';
      const created = await added(w, async () => {
        const res = await call(w, { method: 'POST', url: '/tokens/v2/alice', payload: { note: 'map', scopes: ['styles:read', 'fonts:read'] } }, w.sk.token);
        assert.equal(res.statusCode, 200, res.body);
        id = res.json<{ id: string }>().id;
      });
      assert.deepEqual(created.map(core), [{ actor: token, account: 'alice', action: 'token.create', target: id, ip: IP }]);

      const updated = await added(w, async () => {
        const res = await call(w, { method: 'PATCH', url: `/tokens/v2/alice/${id}`, payload: { note: 'map 2', scopes: ['styles:read'] } }, w.sk.token);
        assert.equal(res.statusCode, 200, res.body);
      });
      assert.deepEqual(updated.map(core), [{ actor: token, account: 'alice', action: 'token.update', target: id, ip: IP }]);
      assert.deepEqual(updated[0]?.changes, { fields: ['note', 'scopes'], scopesBefore: ['styles:read', 'fonts:read'], scopesAfter: ['styles:read'] });

      const deleted = await added(w, async () =>
        assert.equal((await call(w, { method: 'DELETE', url: `/tokens/v2/alice/${id}` }, w.sk.token)).statusCode, 204),
      );
      assert.deepEqual(deleted.map(core), [{ actor: token, account: 'alice', action: 'token.delete', target: id, ip: IP }]);

      const listed = await w.t.app.tokens.list(await w.t.app.access.operator('alice'), { sortBy: 'created', limit: 100, isDefault: true });
      const defaultId = listed.tokens[0]!.id;
      const refreshed = await added(w, async () =>
        assert.equal((await call(w, { method: 'DELETE', url: `/tokens/v2/alice/${defaultId}` }, w.sk.token)).statusCode, 204),
      );
      assert.deepEqual(refreshed.map(core), [{ actor: token, account: 'alice', action: 'token.refresh', target: defaultId, ip: IP }]);
    });

    it('a tk is recorded as its root token; minting it is not audited', async () => {
      const expires = new Date(w.t.clock() + 60_000).toISOString();
      const minted = await added(w, async () => {
        const res = await call(w, { method: 'POST', url: '/tokens/v2/alice', payload: { expires, scopes: ['styles:read'] } }, w.sk.token);
        assert.equal(res.statusCode, 200, res.body);
      });
      assert.deepEqual(minted, []);
    });

    it('an admin key: accounts create (with password), disable, enable, password, delete; tokens for any account', async () => {
      const admin = { kind: 'admin', id: w.keyId };
      const made = await added(w, async () => {
        const res = await call(w, { method: 'POST', url: '/admin/v1/accounts', payload: { username: 'carol', password: PASSWORD } }, w.key);
        assert.equal(res.statusCode, 201, res.body);
      });
      assert.deepEqual(made.map(core), [
        { actor: admin, account: 'carol', action: 'account.create', target: null, ip: IP },
        { actor: admin, account: 'carol', action: 'account.password', target: null, ip: IP },
      ]);
      const steps: Array<[InjectOptions, string]> = [
        [{ method: 'PATCH', url: '/admin/v1/accounts/carol', payload: { disabled: true } }, 'account.disable'],
        [{ method: 'PATCH', url: '/admin/v1/accounts/carol', payload: { disabled: false } }, 'account.enable'],
        [{ method: 'PUT', url: '/admin/v1/accounts/carol/password', payload: { password: 'another password' } }, 'account.password'],
        [{ method: 'POST', url: '/tokens/v2/carol', payload: { note: 'by admin' } }, 'token.create'],
        [{ method: 'DELETE', url: '/admin/v1/accounts/carol' }, 'account.delete'],
      ];
      for (const [request, action] of steps) {
        const got = await added(w, async () => assert.ok((await call(w, request, w.key)).statusCode < 300));
        assert.equal(got.length, 1, action);
        assert.deepEqual({ ...core(got[0]!), target: null }, { actor: admin, account: 'carol', action, target: null, ip: IP });
      }
      // Setting the state the account already has changes nothing, and records nothing.
      const noop = await added(w, async () =>
        assert.equal((await call(w, { method: 'PATCH', url: '/admin/v1/accounts/bob', payload: { disabled: false } }, w.key)).statusCode, 200),
      );
      assert.deepEqual(noop, []);
    });

    it('the CLI: accounts, tokens, admin keys, key rotation (ip null); the first signing key is not a rotation', async () => {
      const cliActor = { kind: 'cli', id: null };
      const all = await entries(w);
      assert.ok(!all.some((e) => e.action === 'key.rotate'));
      assert.deepEqual(all.at(-1) && core(all.at(-1)!), { actor: cliActor, account: 'alice', action: 'account.create', target: null, ip: null });
      const rotated = await added(w, () => w.t.app.keyring.rotate());
      assert.deepEqual(rotated.map(core), [{ actor: cliActor, account: null, action: 'key.rotate', target: w.t.app.keyring.signingKey().id, ip: null }]);
      let keyId = '';
      const made = await added(w, async () => (keyId = (await w.t.app.adminKeys.create('x')).id));
      assert.deepEqual(made.map(core), [{ actor: cliActor, account: null, action: 'admin_key.create', target: keyId, ip: null }]);
      const gone = await added(w, () => w.t.app.adminKeys.delete(keyId));
      assert.deepEqual(gone.map(core), [{ actor: cliActor, account: null, action: 'admin_key.delete', target: keyId, ip: null }]);
      const password = await added(w, () => w.t.app.sessions.setPassword('bob', 'a password for bob'));
      assert.deepEqual(password.map(core), [{ actor: cliActor, account: 'bob', action: 'account.password', target: null, ip: null }]);
    });

    it('the page: sign-in, a failed sign-in, a token made with the session, sign-out', async () => {
      const cookies = new Map<string, string>();
      let csrf = '';
      const page = async (options: InjectOptions): Promise<LightMyRequestResponse> => {
        const headers: Record<string, string> = { host: 'localhost:80', origin: ORIGIN, 'x-csrf-token': csrf };
        if (cookies.size > 0) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
        const res = await w.t.server.inject({ remoteAddress: IP, ...options, headers });
        for (const line of [res.headers['set-cookie'] ?? []].flat()) {
          const [name, value] = (line.split(';')[0] as string).split('=') as [string, string];
          if (/Max-Age=0/.test(line)) cookies.delete(name);
          else cookies.set(name, value);
        }
        return res;
      };
      const shell = await page({ method: 'GET', url: '/account/sign-in' });
      csrf = (JSON.parse((/<meta name="tokenbox-page" content="([^"]*)"/.exec(shell.body)?.[1] ?? '').replace(/&quot;/g, '"')) as { csrfToken: string })
        .csrfToken;

      const failed = await added(w, async () => {
        assert.equal((await page({ method: 'POST', url: '/account/sign-in', payload: { username: 'alice', password: 'wrong password' } })).statusCode, 401);
        assert.equal((await page({ method: 'POST', url: '/account/sign-in', payload: { username: PASSWORD, password: PASSWORD } })).statusCode, 401);
      });
      assert.deepEqual(failed.map(core), [
        { actor: { kind: 'web', id: null }, account: 'alice', action: 'session.sign_in_failed', target: null, ip: IP },
        // What was typed as a username (here a password) is never written: no such account, so null.
        { actor: { kind: 'web', id: null }, account: null, action: 'session.sign_in_failed', target: null, ip: IP },
      ]);
      const web = { kind: 'web', id: 'alice' };
      const signedIn = await added(w, async () =>
        assert.equal((await page({ method: 'POST', url: '/account/sign-in', payload: { username: 'alice', password: PASSWORD } })).statusCode, 200),
      );
      assert.deepEqual(signedIn.map(core), [{ actor: web, account: 'alice', action: 'session.sign_in', target: null, ip: IP }]);
      let id = '';
      const created = await added(w, async () => {
        const res = await page({ method: 'POST', url: '/tokens/v2/alice', payload: { note: 'from the page' } });
        assert.equal(res.statusCode, 200, res.body);
        id = res.json<{ id: string }>().id;
      });
      assert.deepEqual(created.map(core), [{ actor: web, account: 'alice', action: 'token.create', target: id, ip: IP }]);
      const signedOut = await added(w, async () => assert.equal((await page({ method: 'POST', url: '/account/sign-out' })).statusCode, 204));
      assert.deepEqual(signedOut.map(core), [{ actor: web, account: 'alice', action: 'session.sign_out', target: null, ip: IP }]);
    });
  });

  describe('a change that fails leaves no entry', () => {
    it('422, 404, 409 and 401 on the Tokens and admin APIs', async () => {
      const none = await added(w, async () => {
        const refused: Array<[InjectOptions & { url: string }, string, number]> = [
          [{ method: 'POST', url: '/tokens/v2/alice', payload: { scopes: ['no:such'] } }, w.sk.token, 422],
          [{ method: 'PATCH', url: '/tokens/v2/alice/cunknownunknownunknown0000', payload: { note: 'x' } }, w.sk.token, 404],
          [{ method: 'DELETE', url: '/tokens/v2/alice/cunknownunknownunknown0000' }, w.sk.token, 404],
          [{ method: 'POST', url: '/tokens/v2/bob', payload: {} }, w.sk.token, 404],
          [{ method: 'POST', url: '/admin/v1/accounts', payload: { username: 'alice' } }, w.key, 409],
          [{ method: 'POST', url: '/admin/v1/accounts', payload: { username: 'dave', password: 'short' } }, w.key, 422],
          [{ method: 'PUT', url: '/admin/v1/accounts/alice/password', payload: { password: 'short' } }, w.key, 422],
          [{ method: 'PATCH', url: '/admin/v1/accounts/alice', payload: { disabled: 'yes' } }, w.key, 422],
          [{ method: 'DELETE', url: '/admin/v1/accounts/nobody' }, w.key, 404],
          [{ method: 'DELETE', url: '/admin/v1/accounts/alice' }, w.sk.token, 401],
        ];
        for (const [request, credential, status] of refused)
          assert.equal((await call(w, request, credential)).statusCode, status, `${request.method} ${request.url}`);
        await assert.rejects(w.t.app.adminKeys.delete('cnosuchkeynosuchkeynosuch0'));
      });
      assert.deepEqual(none, []);
    });
  });

  it('no entry holds a token string, a password or a hash', async () => {
    const res = await call(w, { method: 'POST', url: '/admin/v1/accounts', payload: { username: 'carol', password: PASSWORD } }, w.key);
    const made = res.json<{ defaultPublicToken: { id: string; token: string } }>().defaultPublicToken;
    await call(w, { method: 'DELETE', url: `/tokens/v2/carol/${made.id}` }, w.key);
    await call(w, { method: 'PATCH', url: `/tokens/v2/alice/${w.sk.id}`, payload: { note: 'n' } }, w.sk.token);
    await w.t.app.sessions.signIn('alice', 'a wrong password', IP);
    await w.t.app.sessions.signIn('alice', PASSWORD, IP);
    const text = JSON.stringify(await entries(w));
    assert.ok(text.length > 100);
    for (const secret of [w.sk.token, w.key, made.token, PASSWORD, 'a wrong password']) assert.ok(!text.includes(secret), 'a secret in the audit log');
    assert.doesNotMatch(text, /\b(?:pk|sk|tk)\.ey|tba_|\$argon2/);
  });

  describe('GET /admin/v1/audit', () => {
    it('every key of SPEC §10 on every entry, newest first; filters by account and action; pages with Link', async () => {
      for (let i = 0; i < 5; i += 1) await w.t.app.sessions.setPassword('bob', `password number ${i}`);
      const all = await entries(w);
      assert.ok(all.every((e, i) => i === 0 || e.id < all[i - 1]!.id));
      for (const e of all) assert.deepEqual(Object.keys(e).slice(0, 7), ['id', 'at', 'actor', 'account', 'action', 'target', 'ip']);
      assert.deepEqual(
        (await entries(w, '?account=bob')).map((e) => e.action),
        ['account.password', 'account.password', 'account.password', 'account.password', 'account.password', 'account.create'],
      );
      assert.equal((await entries(w, '?account=bob&action=account.create')).length, 1);
      const seen: number[] = [];
      let url: string | null = '/admin/v1/audit?account=bob&limit=4';
      while (url !== null) {
        const res: LightMyRequestResponse = await w.t.server.inject({ method: 'GET', url, headers: { authorization: `Bearer ${w.key}` } });
        assert.equal(res.statusCode, 200);
        seen.push(...res.json<AuditEntryView[]>().map((e) => e.id));
        const link = res.headers.link as string | undefined;
        url = link === undefined ? null : new URL(/^<([^>]+)>; rel="next"$/.exec(link)![1]!).pathname + new URL(/^<([^>]+)>/.exec(link)![1]!).search;
        if (url !== null) assert.match(url, /account=bob&limit=4&start=\d+$/);
      }
      assert.equal(seen.length, 6);
      assert.equal(new Set(seen).size, 6);
    });

    it('422 for a bad limit, start, action or account; 401 for an account token holding every scope', async () => {
      for (const [query, message] of [
        ['limit=0', 'limit is invalid'],
        ['limit=101', 'limit is invalid'],
        ['start=garbage', 'start is invalid'],
        ['start=0', 'start is invalid'],
        ['action=token.explode', 'action is invalid'],
        ['account=Not%20A%20User', 'account is invalid'],
      ] as const) {
        const res = await w.t.server.inject({ method: 'GET', url: `/admin/v1/audit?${query}`, headers: { authorization: `Bearer ${w.key}` } });
        assert.equal(res.statusCode, 422, query);
        assert.deepEqual(res.json(), { message }, query);
      }
      const res = await call(w, { method: 'GET', url: '/admin/v1/audit' }, w.sk.token);
      assert.equal(res.statusCode, 401);
      assert.equal((await w.t.server.inject({ method: 'GET', url: `/admin/v1/audit?access_token=${w.key}` })).statusCode, 401);
    });
  });

  it('housekeeping prunes entries older than auditRetentionDays', async () => {
    const before = (await entries(w)).length;
    w.t.clock.advance(401 * 86_400_000);
    await w.t.app.sessions.setPassword('bob', 'a later password');
    assert.ok(before > 0);
    assert.equal(await w.t.app.audit.prune(), before);
    assert.deepEqual(
      (await entries(w)).map((e) => e.action),
      ['account.password'],
    );
  });
});

describe('tokenbox audit (the built CLI)', () => {
  it('--json prints one array, newest first; --account filters; --limit cuts; a bad --limit is exit 2', async () => {
    ensureBuilt();
    const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-audit-'));
    try {
      await cliJson(['accounts', 'create', 'carol', '--data', dataDir]);
      await cliJson(['accounts', 'create', 'dave', '--data', dataDir]);
      assert.equal((await cli(['accounts', 'disable', 'carol', '--data', dataDir])).code, 0);
      const all = await cliJson<AuditEntryView[]>(['audit', '--data', dataDir]);
      assert.deepEqual(
        all.map((e) => [e.action, e.account, e.actor, e.ip]),
        [
          ['account.disable', 'carol', { kind: 'cli', id: null }, null],
          ['account.create', 'dave', { kind: 'cli', id: null }, null],
          ['account.create', 'carol', { kind: 'cli', id: null }, null],
        ],
      );
      const carol = await cliJson<AuditEntryView[]>(['audit', '--account', 'carol', '--limit', '1', '--data', dataDir]);
      assert.deepEqual(
        carol.map((e) => e.action),
        ['account.disable'],
      );
      const human = await cli(['audit', '--data', dataDir]);
      assert.equal(human.code, 0);
      assert.equal(human.stdout.trim().split('\n').length, 3);
      assert.match(human.stdout, /\taccount\.disable\tcli\tcarol\t-\t-/);
      assert.equal((await cli(['audit', '--limit', '0', '--data', dataDir])).code, 2);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
