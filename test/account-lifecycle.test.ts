/**
 * Account lifecycle (SPEC §10): disable, enable and delete through the operators' API and the
 * CLI. A disabled account's pk, sk and tk are refused by forward auth, the APIs and retrieve, its
 * sessions and sign-in too; enabling restores the same tokens; deleting removes everything, and a
 * tk minted before stays refused when the username is reused. In process on a real SQLite file,
 * and across processes with two `tokenbox serve` on one data directory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { startTestApp, withOpened, type TestApp } from './helpers/app.js';
import { cli, cliJson, e2eDataDir, ensureBuilt, startServer } from './helpers/cli.js';

const PASSWORD = 'a long enough password';

interface World {
  readonly t: TestApp;
  readonly key: string;
  readonly pk: string;
  readonly sk: string;
  readonly tk: string;
}

async function world(): Promise<World> {
  const t = await startTestApp();
  const pk = (await t.app.accounts.create('alice', 'cli', PASSWORD)).defaultPublicToken.token as string;
  const sk = (await t.token('alice', ['tokens:read', 'tokens:write', 'styles:read'])).token;
  const minted = await t.server.inject({
    method: 'POST',
    url: `/tokens/v2/alice?access_token=${sk}`,
    payload: { expires: new Date(t.clock() + 30 * 60_000).toISOString(), scopes: ['styles:read'] },
  });
  const { key } = await t.app.adminKeys.create('lifecycle');
  return { t, key, pk, sk, tk: minted.json<{ token: string }>().token };
}

const admin = (w: World, method: 'PATCH' | 'DELETE', username: string, payload?: unknown): Promise<LightMyRequestResponse> =>
  w.t.server.inject({
    method,
    url: `/admin/v1/accounts/${username}`,
    headers: { authorization: `Bearer ${w.key}` },
    ...(payload !== undefined && { payload: payload as object }),
  });

/** Forward auth's verdict for a token (status), the Tokens API's answer to it, and retrieve's code. */
async function standing(w: World, token: string): Promise<{ check: number; api: number; retrieve: string }> {
  const check = await w.t.server.inject({ method: 'GET', url: '/auth/v1/check?scope=styles:read', headers: { 'x-original-uri': `/x?access_token=${token}` } });
  const api = await w.t.server.inject({ method: 'GET', url: '/tokens/v2/alice', headers: { authorization: `Bearer ${token}` } });
  const retrieve = await w.t.server.inject({ method: 'GET', url: `/tokens/v2?access_token=${token}` });
  return { check: check.statusCode, api: api.statusCode, retrieve: retrieve.json<{ code: string }>().code };
}

describe('account lifecycle through the operators API', () => {
  it('disable refuses every pk, sk and tk of the account at once; enable restores the same tokens', () =>
    withOpened(world, async (w) => {
      assert.deepEqual(await standing(w, w.sk), { check: 200, api: 200, retrieve: 'TokenValid' });
      const disabled = await admin(w, 'PATCH', 'alice', { disabled: true });
      assert.equal(disabled.statusCode, 200);
      assert.equal(disabled.json<{ disabled: boolean }>().disabled, true);
      for (const token of [w.pk, w.sk, w.tk]) {
        const s = await standing(w, token);
        assert.equal(s.check, 401, token.slice(0, 3));
        assert.notEqual(s.retrieve, 'TokenValid', token.slice(0, 3));
      }
      assert.equal((await standing(w, w.sk)).api, 401);
      const check = await w.t.server.inject({
        method: 'GET',
        url: '/auth/v1/check?scope=styles:read',
        headers: { 'x-original-uri': `/x?access_token=${w.pk}` },
      });
      assert.equal(check.headers['x-tokenbox-message'], 'Not Authorized - Invalid Token');
      assert.equal(await w.t.app.store.getPasswordHash('alice'), null, 'the page refuses its sign-in');

      assert.equal((await admin(w, 'PATCH', 'alice', { disabled: false })).json<{ disabled: boolean }>().disabled, false);
      for (const token of [w.pk, w.sk, w.tk]) assert.deepEqual((await standing(w, token)).check, 200, token.slice(0, 3));
      assert.equal((await standing(w, w.sk)).api, 200);
    }));

  it('a disabled account cannot sign in to the page, and its open session is refused', () =>
    withOpened(world, async (w) => {
      const signedIn = await w.t.app.sessions.signIn('alice', PASSWORD, '127.0.0.1');
      assert.ok(signedIn.ok);
      await admin(w, 'PATCH', 'alice', { disabled: true });
      assert.equal(await w.t.app.sessions.resolve(signedIn.sessionId), null);
      assert.deepEqual(await w.t.app.sessions.signIn('alice', PASSWORD, '127.0.0.2'), { ok: false, reason: 'invalid' });
      await admin(w, 'PATCH', 'alice', { disabled: false });
      assert.notEqual(await w.t.app.sessions.resolve(signedIn.sessionId), null, 'enabling restores the session too');
    }));

  it('delete removes the account and every token; a tk minted before stays refused after the username is reused', () =>
    withOpened(world, async (w) => {
      assert.equal((await admin(w, 'DELETE', 'alice')).statusCode, 204);
      for (const token of [w.pk, w.sk, w.tk]) assert.equal((await standing(w, token)).check, 401, token.slice(0, 3));
      assert.equal((await standing(w, w.sk)).retrieve, 'TokenRevoked');
      const res = await w.t.server.inject({ method: 'GET', url: '/admin/v1/accounts/alice', headers: { authorization: `Bearer ${w.key}` } });
      assert.deepEqual([res.statusCode, res.json()], [404, { message: 'No such user' }]);
      const reused = await w.t.server.inject({
        method: 'POST',
        url: '/admin/v1/accounts',
        headers: { authorization: `Bearer ${w.key}` },
        payload: { username: 'alice' },
      });
      assert.equal(reused.statusCode, 201);
      for (const token of [w.pk, w.sk, w.tk]) assert.equal((await standing(w, token)).check, 401, `${token.slice(0, 3)} after reuse`);
      const fresh = reused.json<{ defaultPublicToken: { token: string } }>().defaultPublicToken.token;
      assert.equal((await standing(w, fresh)).check, 200);
    }));

  it('bad input: an unknown account is 404 and a body without a boolean is 422; nothing changes', () =>
    withOpened(world, async (w) => {
      for (const res of [
        await admin(w, 'PATCH', 'nobody', { disabled: true }),
        await admin(w, 'DELETE', 'nobody'),
        await admin(w, 'PATCH', 'Not A Name', { disabled: true }),
      ]) {
        assert.deepEqual([res.statusCode, res.json()], [404, { message: 'No such user' }]);
      }
      for (const payload of [{}, { disabled: 'yes' }, { disabled: true, extra: 1 }, { disabled: null }]) {
        const res = await admin(w, 'PATCH', 'alice', payload);
        assert.equal(res.statusCode, 422, JSON.stringify(payload));
      }
      assert.equal((await standing(w, w.sk)).check, 200);
    }));
});

describe('account lifecycle across processes and on the CLI', () => {
  const dataDir = e2eDataDir('tokenbox-lifecycle-');

  it('disabled through one serve, a second serve on the same data refuses pk, sk and tk within the bound; enabled, all work again', async () => {
    ensureBuilt();
    const created = await cliJson<{ defaultPublicToken: { token: string } }>(['accounts', 'create', 'alice', '--data', dataDir]);
    const pk = created.defaultPublicToken.token;
    const sk = (await cliJson<{ token: string }>(['tokens', 'create', 'alice', '--scopes', 'tokens:write,styles:read', '--data', dataDir])).token;
    const keyDoc = await cliJson<{ key: string }>(['admin-keys', 'create', '--data', dataDir]);
    const one = await startServer(dataDir);
    const two = await startServer(dataDir);
    const minted = await fetch(`${one.origin}/tokens/v2/alice?access_token=${sk}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expires: new Date(Date.now() + 30 * 60_000).toISOString(), scopes: ['styles:read'] }),
    });
    const tk = ((await minted.json()) as { token: string }).token;
    const check = async (token: string) =>
      (await fetch(`${two.origin}/auth/v1/check?scope=styles:read`, { headers: { 'x-original-uri': `/x?access_token=${token}` } })).status;
    /** Polls the second serve until every token answers `status`; returns how long that took. */
    const until = async (status: number): Promise<number> => {
      const started = Date.now();
      while (Date.now() - started < 5_000) {
        const statuses = await Promise.all([pk, sk, tk].map(check));
        if (statuses.every((s) => s === status)) return Date.now() - started;
      }
      assert.fail(`the second serve did not answer ${status} for every token within 5 s`);
    };
    for (const token of [pk, sk, tk]) assert.equal(await check(token), 200);
    const patch = (disabled: boolean) =>
      fetch(`${one.origin}/admin/v1/accounts/alice`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${keyDoc.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ disabled }),
      });
    assert.equal((await patch(true)).status, 200);
    const refusedAfter = await until(401);
    assert.ok(refusedAfter < 1_000, `refused after ${refusedAfter} ms (SPEC §7 bound: 1 s)`);
    assert.equal((await patch(false)).status, 200);
    const restoredAfter = await until(200);
    assert.ok(restoredAfter < 1_000, `restored after ${restoredAfter} ms`);
  });

  it('deleting an account while its tokens are in use under load: no 5xx, and every request sent after the 204 gets 401', async () => {
    ensureBuilt();
    const created = await cliJson<{ defaultPublicToken: { token: string } }>(['accounts', 'create', 'dave', '--data', dataDir]);
    const pk = created.defaultPublicToken.token;
    const sk = (await cliJson<{ token: string }>(['tokens', 'create', 'dave', '--scopes', 'tokens:read,styles:read', '--data', dataDir])).token;
    const keyDoc = await cliJson<{ key: string }>(['admin-keys', 'create', '--data', dataDir]);
    // Limits raised: the APIs' 60 s budget would otherwise turn the load into 429s.
    const server = await startServer(dataDir, { TOKENBOX_ACCOUNT_RATE_LIMIT: '1000000' });
    let deletedAt = Number.POSITIVE_INFINITY;
    const seen: { sentAt: number; status: number }[] = [];
    let stop = false;
    const worker = async (i: number): Promise<void> => {
      while (!stop) {
        const sentAt = performance.now();
        const res =
          i % 2 === 0
            ? await fetch(`${server.origin}/auth/v1/check?scope=styles:read`, { headers: { 'x-original-uri': `/x?access_token=${i % 4 === 0 ? pk : sk}` } })
            : await fetch(`${server.origin}/tokens/v2/dave`, { headers: { authorization: `Bearer ${sk}` } });
        await res.arrayBuffer();
        seen.push({ sentAt, status: res.status });
      }
    };
    const workers = Array.from({ length: 8 }, (_, i) => worker(i));
    // Let the load run, then delete in the middle of it.
    while (seen.length < 200) await new Promise((resolve) => setImmediate(resolve));
    const res = await fetch(`${server.origin}/admin/v1/accounts/dave`, { method: 'DELETE', headers: { authorization: `Bearer ${keyDoc.key}` } });
    deletedAt = performance.now();
    assert.equal(res.status, 204);
    while (seen.filter((r) => r.sentAt > deletedAt).length < 200) await new Promise((resolve) => setImmediate(resolve));
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(
      seen.filter((r) => r.status >= 500),
      [],
      'no 5xx',
    );
    const after = seen.filter((r) => r.sentAt > deletedAt);
    assert.deepEqual([...new Set(after.map((r) => r.status))], [401], 'every request sent after the delete answered is refused');
    assert.ok(
      seen.some((r) => r.sentAt < deletedAt && r.status === 200),
      'the tokens worked before',
    );
  });

  it('accounts disable, enable and delete on the CLI; an unknown account is exit 1, a bad name exit 2', async () => {
    ensureBuilt();
    await cliJson(['accounts', 'create', 'carol', '--data', dataDir]);
    for (const command of ['disable', 'enable', 'delete']) {
      const res = await cli(['accounts', command, 'carol', '--data', dataDir]);
      assert.deepEqual([res.code, res.stdout, res.stderr], [0, '', ''], command);
    }
    const listed = await cliJson<{ username: string }[]>(['accounts', 'list', '--data', dataDir]);
    assert.ok(!listed.some((a) => a.username === 'carol'));
    const unknown = await cli(['accounts', 'disable', 'carol', '--data', dataDir]);
    assert.deepEqual([unknown.code, unknown.stderr.trim()], [1, 'No such user.']);
    assert.equal((await cli(['accounts', 'delete', 'Bad Name', '--data', dataDir])).code, 2);
  });
});
