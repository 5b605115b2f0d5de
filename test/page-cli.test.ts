/**
 * The page's commands (SPEC §8, §9) through the built CLI: `accounts create --password-stdin`
 * and `accounts set-password`, on a real data directory.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { verifyPassword } from '../src/services/passwords.js';
import { sessionIdHash } from '../src/services/sessions-service.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { cli, e2eDataDir, ensureBuilt } from './helpers/cli.js';

const dataDir = e2eDataDir('tokenbox-page-cli-');
const run = (args: string[], stdin = '') => cli([...args, '--data', dataDir], {}, stdin);

/** Reads the account's stored hash straight from the SQLite file the CLI wrote. */
async function storedHash(username: string): Promise<string | null> {
  const store = openSqliteStore(dataDir);
  try {
    return await store.getPasswordHash(username);
  } finally {
    await store.close();
  }
}

describe('page passwords on the command line', () => {
  before(() => ensureBuilt());

  it('accounts create --password-stdin stores an argon2id hash (19 MiB, 2 passes, 1 lane) of the line without its newline', async () => {
    const res = await run(['accounts', 'create', 'alice', '--password-stdin', '--json'], 'a long enough password\n');
    assert.equal(res.code, 0, res.stderr);
    assert.equal((JSON.parse(res.stdout) as { username: string }).username, 'alice');
    const hash = (await storedHash('alice')) ?? '';
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await verifyPassword(hash, 'a long enough password'), true);
    assert.equal(await verifyPassword(hash, 'a long enough password\n'), false);
    assert.ok(!res.stdout.includes('a long enough password') && !res.stderr.includes('a long enough password'));
  });

  it('a CRLF line ending is not part of the password either', async () => {
    assert.equal((await run(['accounts', 'create', 'crlf', '--password-stdin'], 'windows password\r\n')).code, 0);
    assert.equal(await verifyPassword((await storedHash('crlf')) ?? '', 'windows password'), true);
  });

  it('a password outside 8–1,024 characters, or none on stdin, is a usage error and creates nothing', async () => {
    for (const stdin of ['short\n', `${'x'.repeat(1025)}\n`, '']) {
      const res = await run(['accounts', 'create', 'bob', '--password-stdin'], stdin);
      assert.equal(res.code, 2, `${JSON.stringify(stdin.slice(0, 10))}: ${res.stderr}`);
      assert.match(res.stderr, /password/);
    }
    const listed = await run(['accounts', 'list', '--json']);
    assert.ok(!(JSON.parse(listed.stdout) as { username: string }[]).some((a) => a.username === 'bob'));
  });

  it('accounts set-password replaces the hash and ends every session of the account', async () => {
    const store = openSqliteStore(dataDir);
    try {
      assert.equal(
        await store.createSession({ idHash: sessionIdHash('s'.repeat(43)), username: 'alice', created: Date.now(), expires: Date.now() + 60_000 }),
        true,
      );
    } finally {
      await store.close();
    }
    const before = await storedHash('alice');
    const res = await run(['accounts', 'set-password', 'alice', '--password-stdin'], 'another good password\n');
    assert.equal(res.code, 0, res.stderr);
    const after = (await storedHash('alice')) ?? '';
    assert.notEqual(after, before);
    assert.equal(await verifyPassword(after, 'another good password'), true);
    const check = openSqliteStore(dataDir);
    try {
      assert.equal(await check.findSession(sessionIdHash('s'.repeat(43)), Date.now()), null);
    } finally {
      await check.close();
    }
  });

  it('set-password needs --password-stdin (exit 2) and an existing account (exit 1)', async () => {
    const noFlag = await run(['accounts', 'set-password', 'alice'], 'another good password\n');
    assert.equal(noFlag.code, 2);
    assert.match(noFlag.stderr, /--password-stdin/);
    const unknown = await run(['accounts', 'set-password', 'nobody', '--password-stdin'], 'another good password\n');
    assert.deepEqual([unknown.code, unknown.stderr.trim()], [1, 'No such user.']);
    assert.equal((await run(['accounts', 'set-password', 'Bad Name', '--password-stdin'], 'another good password\n')).code, 2);
  });
});
