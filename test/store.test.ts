/**
 * Runs the store contract against every backend available without a server (memory and a temp
 * SQLite file), plus what only SQLite has: pragmas, recorded migrations, several connections
 * and several processes on one file, and the keyset query plan.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { storedSize, type TokenRecord } from '../src/store/port.js';
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from '../src/store/sqlite/migrations.js';
import { listTokensSql, openSqliteStore, SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { fromTokenRow, storedRowSize, toTokenRow, type TokenRow } from '../src/store/sqlite/token-row.js';
import { makeDefaultToken, makeToken, runStoreContract, SQL_MIGRATIONS } from './store-contract.js';
import { openedMemoryStore, openedSqliteStore } from './helpers/stores.js';

const T0 = 1_700_000_000_000;
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tokenbox-store-'));
}

runStoreContract('memory', openedMemoryStore);
runStoreContract('sqlite', openedSqliteStore);

describe('sqlite store', () => {
  let dir: string;
  let file: string;
  const opened: SqliteStore[] = [];

  /** Opens a store on the shared temp file; closed after the test. */
  function open(): SqliteStore {
    const store = SqliteStore.open(file);
    opened.push(store);
    return store;
  }

  beforeEach(() => {
    dir = tempDir();
    file = join(dir, 'tokenbox.db');
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('openSqliteStore creates a missing data directory', async () => {
    const nested = join(dir, 'a', 'b');
    const store = openSqliteStore(nested);
    opened.push(store);
    await store.migrate();
    assert.ok(existsSync(join(nested, 'tokenbox.db')));
  });

  it('configures the connection: a short busy_timeout, WAL, synchronous NORMAL, foreign keys', async () => {
    const store = open();
    const { busyTimeout, ...rest } = store.pragmas();
    // SQLite's wait for a lock is synchronous and stops the event loop: at most ~20 ms of it.
    assert.ok(busyTimeout > 0 && busyTimeout <= 20, `busy_timeout ${busyTimeout}`);
    assert.deepEqual(rest, { journalMode: 'wal', synchronous: 1, foreignKeys: 1 });
  });

  it('has the shared migration list (the one every SQL backend applies)', () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.name),
      SQL_MIGRATIONS,
    );
  });

  it('002 upgrades a 001 file: changes keep their seq, no seq is reused, key changes are allowed', async () => {
    const raw = new Database(file);
    try {
      raw.exec(MIGRATIONS_TABLE_SQL);
      raw.exec(MIGRATIONS[0]!.sql);
      raw.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)').run(MIGRATIONS[0]!.name, T0);
      const add = raw.prepare('INSERT INTO token_changes (token_id, kind, at, token_hash) VALUES (?, ?, ?, ?)');
      add.run('ca', 'update', T0, null);
      add.run('cb', 'delete', T0 + 1, 'hash-b');
      add.run('cc', 'update', T0 + 2, null);
      // The newest row gone: AUTOINCREMENT must still never hand out its seq (3) again.
      raw.prepare('DELETE FROM token_changes WHERE seq = 3').run();
    } finally {
      raw.close();
    }
    const store = open();
    assert.deepEqual(
      (await store.migrate()).applied,
      MIGRATIONS.slice(1).map((m) => m.name),
    );
    assert.deepEqual(
      (await store.changesSince(0, 10)).map(({ seq, tokenId, kind, at }) => [seq, tokenId, kind, at]),
      [
        [1, 'ca', 'update', T0],
        [2, 'cb', 'delete', T0 + 1],
      ],
    );
    assert.equal(await store.deletedTokenHash('cb'), 'hash-b');
    await store.addSigningKey({ id: 'k1', sealedKey: 's1', created: T0 + 5, retired: null });
    const [key] = await store.changesSince(2, 10);
    assert.deepEqual(key, { seq: 4, tokenId: 'k1', kind: 'key', at: T0 + 5 });
    const check = new Database(file);
    try {
      const indexes = check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'token_changes' ORDER BY name").all();
      assert.deepEqual(indexes, [{ name: 'token_changes_by_kind_at' }, { name: 'token_changes_by_token' }]);
      assert.throws(() => check.prepare("INSERT INTO token_changes (token_id, kind, at) VALUES ('x', 'other', 1)").run(), /CHECK/);
    } finally {
      check.close();
    }
  });

  it("a raw row's size (read before parsing) is storedSize of the record it holds", async () => {
    const store = open();
    await store.migrate();
    await store.createAccount({ username: 'alice', created: T0 }, makeDefaultToken('alice'));
    const records = [
      makeToken('alice', { note: 'café 🚀 "q" \\ \n', scopes: ['a:b', 'c:d'], allowedUrls: ['https://é.example/路径'] }),
      makeToken('alice', { allowedApplications: [{ platform: 'iOS', bundleId: 'com.example.地図' }], allowedUrls: [] }),
      makeToken('alice', { note: '', scopes: [] }),
    ];
    for (const r of records) {
      assert.equal(storedRowSize(toTokenRow(r)), storedSize(r));
      await store.insertToken(r, 10);
    }
    const raw = new Database(file, { readonly: true });
    try {
      for (const r of records) {
        const row = raw.prepare('SELECT * FROM tokens WHERE id = ?').get(r.id) as TokenRow;
        assert.equal(storedRowSize(row), storedSize(fromTokenRow(row)));
        assert.equal(storedRowSize(row), storedSize(r));
      }
    } finally {
      raw.close();
    }
  });

  it('a 1 MiB page of tokens holding 200 KB of URLs each parses only the rows it returns', async () => {
    const store = open();
    await store.migrate();
    await store.createAccount({ username: 'alice', created: T0 - 1 }, makeDefaultToken('alice'));
    for (let i = 0; i < 100; i++) {
      const allowedUrls = Array.from({ length: 100 }, (_, k) => `https://${k}.example/${'u'.repeat(2000)}`);
      assert.equal(await store.insertToken(makeToken('alice', { created: T0 + i, allowedUrls }), 200), true);
    }
    const parse = JSON.parse;
    let parsed = 0;
    JSON.parse = ((...args: Parameters<typeof JSON.parse>) => {
      parsed += 1;
      return parse(...args) as unknown;
    }) as typeof JSON.parse;
    let page: TokenRecord[];
    try {
      page = await store.listTokens('alice', { sortBy: 'created', after: null, limit: 100, isDefault: false, maxBytes: 1024 * 1024 });
    } finally {
      JSON.parse = parse;
    }
    const weight = storedSize(page[0]!);
    assert.ok(weight > 200_000);
    // Whole rows until 1 MiB is reached, then one more.
    assert.equal(page.length, Math.ceil((1024 * 1024) / weight) + 1);
    // Two JSON columns per row (scopes, allowedUrls): nothing beyond the page was parsed.
    assert.equal(parsed, 2 * page.length);
  });

  it('the data directory is created 0700 and the database files 0600 (whatever the umask)', async () => {
    const data = join(dir, 'fresh', 'data');
    const store = openSqliteStore(data);
    opened.push(store);
    await store.migrate();
    await store.createAccount({ username: 'alice', created: T0 }, makeDefaultToken('alice'));
    assert.equal(statSync(data).mode & 0o777 & ~0o700, 0);
    assert.equal(statSync(join(dir, 'fresh')).mode & 0o077, 0);
    for (const name of ['tokenbox.db', 'tokenbox.db-wal', 'tokenbox.db-shm']) {
      assert.equal(statSync(join(data, name)).mode & 0o077, 0, `${name} is private`);
    }
  });

  it('narrows an existing database file (and its -wal, -shm) that others could read to 0600', async () => {
    const first = openSqliteStore(dir);
    await first.migrate();
    await first.createAccount({ username: 'alice', created: T0 }, makeDefaultToken('alice'));
    const names = ['tokenbox.db', 'tokenbox.db-wal', 'tokenbox.db-shm'];
    for (const name of names) chmodSync(join(dir, name), 0o644);
    const second = openSqliteStore(dir);
    opened.push(first, second);
    for (const name of names) assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600, name);
    assert.equal((await second.listAccounts()).length, 1);
  });

  it('applies every migration once, in order, and records it in schema_migrations', async () => {
    const names = MIGRATIONS.map((m) => m.name);
    assert.deepEqual(names, [...names].sort());
    const store = open();
    assert.deepEqual((await store.migrate()).applied, names);
    assert.deepEqual((await open().migrate()).applied, []);
    const raw = new Database(file, { readonly: true });
    try {
      const rows = raw.prepare('SELECT name, applied_at FROM schema_migrations ORDER BY name').all() as {
        name: string;
        applied_at: number;
      }[];
      assert.deepEqual(
        rows.map((r) => r.name),
        names,
      );
      assert.ok(rows.every((r) => Number.isInteger(r.applied_at) && r.applied_at > 0));
    } finally {
      raw.close();
    }
  });

  it("two connections on one file see each other's writes and changes", async () => {
    const a = open();
    const b = open();
    await a.migrate();
    await b.migrate();
    const token = makeDefaultToken('alice');
    assert.equal(await a.createAccount({ username: 'alice', created: T0 }, token), true);
    assert.deepEqual(await b.getToken('alice', token.id), token);
    assert.equal(await b.createAccount({ username: 'alice', created: T0 }, makeDefaultToken('alice')), false);
    const extra = makeToken('alice');
    assert.equal(await b.insertToken(extra, 10), true);
    assert.equal(await b.deleteToken('alice', extra.id, T0 + 1), true);
    const changes = await a.changesSince(0, 10);
    assert.deepEqual(
      changes.map(({ tokenId, kind }) => ({ tokenId, kind })),
      [{ tokenId: extra.id, kind: 'delete' }],
    );
    assert.equal(await a.latestChangeSeq(), changes[0]!.seq);
    assert.equal(await a.findTokenById(extra.id), null);
  });

  it('a re-opened file keeps accounts, tokens, changes and keys; seq keeps growing', async () => {
    const first = open();
    await first.migrate();
    const def = makeDefaultToken('alice');
    await first.createAccount({ username: 'alice', created: T0 }, def);
    const kept = makeToken('alice', { note: '地図 🗺️', allowedApplications: [{ platform: 'ios', bundleId: 'x.y' }] });
    const gone = makeToken('alice');
    await first.insertToken(kept, 10);
    await first.insertToken(gone, 10);
    await first.updateToken('alice', kept.id, { note: 'kept ✓' }, T0 + 1);
    await first.deleteToken('alice', gone.id, T0 + 2);
    await first.addSigningKey({ id: 'k1', sealedKey: 's1', created: T0, retired: null });
    const before = {
      accounts: await first.listAccounts(),
      tokens: await first.listTokens('alice', { sortBy: 'created', after: null, limit: 100 }),
      changes: await first.changesSince(0, 100),
      keys: await first.listSigningKeys(),
    };
    await first.close();

    const again = open();
    assert.deepEqual((await again.migrate()).applied, []);
    assert.deepEqual(await again.listAccounts(), before.accounts);
    assert.deepEqual(await again.listTokens('alice', { sortBy: 'created', after: null, limit: 100 }), before.tokens);
    assert.deepEqual(await again.changesSince(0, 100), before.changes);
    assert.deepEqual(await again.listSigningKeys(), before.keys);
    assert.equal(before.tokens.length, 2);
    const lastSeq = await again.latestChangeSeq();
    assert.equal(lastSeq, before.changes.at(-1)!.seq);
    await again.deleteToken('alice', kept.id, T0 + 3);
    assert.ok((await again.latestChangeSeq()) > lastSeq);
  });

  it('lists with an index range seek and no sort step, so a deep page costs what the first does', async () => {
    await open().migrate();
    const raw = new Database(file, { readonly: true });
    try {
      for (const sortBy of ['created', 'modified'] as const) {
        for (const usage of [null, 'pk']) {
          const plan = raw
            .prepare(`EXPLAIN QUERY PLAN ${listTokensSql(sortBy, true)}`)
            .all({ username: 'alice', sortValue: T0, id: 'c', usage, isDefault: null, limit: 100 }) as {
            detail: string;
          }[];
          const details = plan.map((row) => row.detail).join('\n');
          assert.match(details, new RegExp(`USING INDEX tokens_by_username_${sortBy} \\(username=\\? AND ${sortBy}<\\?\\)`));
          assert.doesNotMatch(details, /TEMP B-TREE/);
        }
      }
    } finally {
      raw.close();
    }
  });

  it('processes sharing a fresh file migrate once, create an account once and never overshoot the limit', async () => {
    const maxTokens = 150;
    // Each child loads, says `ready`, and waits for `go` on stdin: all three are released at once,
    // on that event, so their transactions really overlap.
    const child = `
      import { createInterface } from 'node:readline';
      import { SqliteStore } from ${JSON.stringify(new URL('../src/store/sqlite/sqlite-store.ts', import.meta.url).href)};
      import { makeDefaultToken, makeToken } from ${JSON.stringify(new URL('./store-contract.ts', import.meta.url).href)};
      process.stdout.write('ready\\n');
      await new Promise((resolve) => createInterface({ input: process.stdin }).once('line', resolve));
      const store = SqliteStore.open(${JSON.stringify(file)});
      const { applied } = await store.migrate();
      const created = await store.createAccount({ username: 'alice', created: 1 }, makeDefaultToken('alice'));
      let inserted = 0;
      for (let i = 0; i < 100; i++) if (await store.insertToken(makeToken('alice'), ${maxTokens})) inserted++;
      await store.close();
      process.stdout.write(JSON.stringify({ applied, created, inserted }) + '\\n');
    `;
    const procs = [1, 2, 3].map(() =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    const lines = procs.map((proc) => createInterface({ input: proc.stdout })[Symbol.asyncIterator]());
    for (const line of lines) assert.equal((await line.next()).value, 'ready');
    for (const proc of procs) proc.stdin.end('go\n');
    const outputs = await Promise.all(lines.map(async (line) => ({ stdout: String((await line.next()).value) })));
    const results = outputs.map((o) => JSON.parse(o.stdout) as { applied: string[]; created: boolean; inserted: number });
    assert.deepEqual(results.map((r) => r.applied.length).sort(), [0, 0, MIGRATIONS.length]);
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(
      results.reduce((sum, r) => sum + r.inserted, 0),
      maxTokens - 1,
    );
    const store = open();
    assert.equal((await store.listTokens('alice', { sortBy: 'created', after: null, limit: 1000 })).length, maxTokens);
  });
});
