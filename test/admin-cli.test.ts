/**
 * Admin keys on the command line (SPEC §8, §10) through the built CLI, against a running
 * `tokenbox serve` on the same data directory: the key is printed once, stored only as a hash,
 * and a delete is refused by the server from the next request on.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cli, e2eDataDir, ensureBuilt, startServer, type RunningServer } from './helpers/cli.js';

const dataDir = e2eDataDir('tokenbox-admin-cli-');
const run = (args: string[]) => cli([...args, '--data', dataDir]);

interface CreatedKey {
  id: string;
  note: string;
  created: string;
  key: string;
}

async function createKey(note?: string): Promise<CreatedKey> {
  const res = await run(['admin-keys', 'create', ...(note === undefined ? [] : ['--note', note]), '--json']);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as CreatedKey;
}

function listAccounts(server: RunningServer, key: string): Promise<Response> {
  return fetch(`${server.origin}/admin/v1/accounts`, { headers: { authorization: `Bearer ${key}` } });
}

describe('admin-keys on the command line', () => {
  let server: RunningServer;

  before(async () => {
    ensureBuilt();
    assert.equal((await run(['accounts', 'create', 'alice'])).code, 0);
    server = await startServer(dataDir);
  });

  it('admin-keys create --json prints {id, note, created, key} once; the key is tba_ and 32+ of [A-Za-z0-9]', async () => {
    const created = await createKey('provisioning');
    assert.deepEqual(Object.keys(created), ['id', 'note', 'created', 'key']);
    assert.equal(created.note, 'provisioning');
    assert.match(created.created, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.match(created.key, /^tba_[A-Za-z0-9]{32,}$/);
    const other = await createKey();
    assert.equal(other.note, '');
    assert.notEqual(other.key, created.key);
    assert.notEqual(other.id, created.id);
  });

  it('without --json, create says the key is shown once; list shows ids and notes, never a key', async () => {
    const res = await run(['admin-keys', 'create', '--note', 'human']);
    assert.equal(res.code, 0, res.stderr);
    const key = /tba_[A-Za-z0-9]+/.exec(res.stdout)?.[0];
    assert.ok(key, res.stdout);
    assert.match(res.stdout, /shown only once/);
    const listed = await run(['admin-keys', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const keys = JSON.parse(listed.stdout) as Array<Record<string, string>>;
    assert.ok(keys.length >= 3);
    for (const k of keys) assert.deepEqual(Object.keys(k), ['id', 'note', 'created']);
    assert.ok(keys.some((k) => k.note === 'human'));
    const human = await run(['admin-keys', 'list']);
    for (const text of [listed.stdout, human.stdout]) assert.ok(!text.includes('tba_'), text);
  });

  it('the database holds no key string: only its hash', async () => {
    const created = await createKey('stolen database');
    for (const file of readdirSync(dataDir).filter((f) => f.startsWith('tokenbox.db'))) {
      const bytes = readFileSync(join(dataDir, file)).toString('latin1');
      assert.ok(!bytes.includes(created.key.slice(4)), `${file} holds the key`);
    }
  });

  it('a running serve accepts the key, and refuses it at once after admin-keys delete', async () => {
    const created = await createKey('to delete');
    const accepted = await listAccounts(server, created.key);
    assert.equal(accepted.status, 200);
    assert.deepEqual(
      ((await accepted.json()) as Array<{ username: string }>).map((a) => a.username),
      ['alice'],
    );
    const deleted = await run(['admin-keys', 'delete', created.id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, '');
    const refused = await listAccounts(server, created.key);
    assert.equal(refused.status, 401);
    assert.deepEqual(await refused.json(), { message: 'Unauthorized' });
    // On the Tokens API too.
    const tokens = await fetch(`${server.origin}/tokens/v2/alice`, { headers: { authorization: `Bearer ${created.key}` } });
    assert.equal(tokens.status, 401);
    const listed = JSON.parse((await run(['admin-keys', 'list', '--json'])).stdout) as Array<{ id: string }>;
    assert.ok(!listed.some((k) => k.id === created.id));
  });

  it('an admin key created while serve runs is accepted at once (nothing to reload)', async () => {
    const created = await createKey('late');
    assert.equal((await listAccounts(server, created.key)).status, 200);
  });

  it('admin-keys delete of an unknown id: exit 1, No such admin key.; without an id: exit 2', async () => {
    const unknown = await run(['admin-keys', 'delete', 'cnotakeyatallnotakeyatall']);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr.trim(), 'No such admin key.');
    const again = await run(['admin-keys', 'delete', 'cnotakeyatallnotakeyatall']);
    assert.equal(again.code, 1);
    const missing = await run(['admin-keys', 'delete']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /usage: tokenbox admin-keys delete <id>/);
  });

  it('a note with a control character is refused (exit 1) and makes no key', async () => {
    const before = JSON.parse((await run(['admin-keys', 'list', '--json'])).stdout) as unknown[];
    const res = await run(['admin-keys', 'create', '--note', 'bad\u0007note']);
    assert.equal(res.code, 1);
    assert.equal(res.stderr.trim(), 'note is invalid.');
    assert.ok(!res.stdout.includes('tba_'));
    const after = JSON.parse((await run(['admin-keys', 'list', '--json'])).stdout) as unknown[];
    assert.equal(after.length, before.length);
  });
});
