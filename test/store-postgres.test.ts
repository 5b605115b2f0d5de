/**
 * The store contract against PostgreSQL (each test in a fresh schema), plus what only PostgreSQL
 * has: advisory-lock migrations, LISTEN/NOTIFY and its reconnect, the change log's seq
 * visibility, job locks across stores, the pool's size, error translation, and export → import.
 *
 * Without a PostgreSQL answering (TOKENBOX_TEST_DATABASE_URL, else 127.0.0.1:5432/test) one
 * skipped test says why, except under CI (`CI` set), where it is a failure.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AppError } from '../src/domain/errors.js';
import { DAY_MS, utcDay, type TokenRecord } from '../src/store/port.js';
import pg from 'pg';
import { MIGRATIONS } from '../src/store/postgres/migrations.js';
import { CHANGELOG_LOCK, MIGRATION_LOCK } from '../src/store/postgres/statements.js';
import { openPostgresStore, type PostgresOpenOptions, type PostgresStore } from '../src/store/postgres/postgres-store.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../src/store/sqlite/migrations.js';
import type { TransferRecord } from '../src/store/transfer.js';
import { adminQuery, createTestSchema, postgresMissing, TEST_DATABASE_URL, type TestSchema } from './helpers/postgres.js';
import { makeDefaultToken, makeToken, runStoreContract, SQL_MIGRATIONS } from './store-contract.js';
import { runTransferContract } from './transfer-contract.js';
import { openedPostgresStore } from './helpers/stores.js';
import { canRun } from './helpers/requirements.js';

const T0 = 1_700_000_000_000;
if (canRun('PostgreSQL store (contract and its own tests)', await postgresMissing())) {
  runStoreContract('postgres', openedPostgresStore);
  runTransferContract('postgres', openedPostgresStore);
  postgresOnly();
}

/**
 * Another session holding a transaction-level advisory lock (as a writer between its change-log
 * append and its commit, or a node migrating does). `release` commits; `end` closes the session
 * (releasing the lock too, if it is still held).
 */
async function holdLock(
  lock: number,
): Promise<{ query: (text: string, values?: unknown[]) => Promise<void>; release: () => Promise<void>; end: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT pg_advisory_xact_lock($1)', [lock]);
  return {
    query: async (text, values) => {
      await client.query(text, values);
    },
    release: async () => {
      await client.query('COMMIT');
    },
    end: () => client.end(),
  };
}

/** Counts calls and lets a test await the next one: no sleeps. */
function signal(): { readonly fire: () => void; readonly next: () => Promise<void>; calls: number } {
  let waiters: (() => void)[] = [];
  const state = {
    calls: 0,
    fire: () => {
      state.calls += 1;
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake();
    },
    next: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
  return state;
}

function postgresOnly(): void {
  describe('postgres store', () => {
    let schema: TestSchema;
    const opened: PostgresStore[] = [];

    /** Migrates `store`, creates the account `alice` with one more token, and returns that token. */
    async function aliceWithToken(store: PostgresStore): Promise<TokenRecord> {
      await store.migrate();
      await store.createAccount({ username: 'alice', created: T0 }, makeDefaultToken('alice'));
      const token = makeToken('alice');
      await store.insertToken(token, 10);
      return token;
    }

    /** A store on this test's schema, closed after the test. */
    function open(options: PostgresOpenOptions = {}): PostgresStore {
      const store = openPostgresStore(schema.url, options);
      opened.push(store);
      return store;
    }

    /** Two stores on this test's schema: one that writes (holding alice), one that watches. */
    async function writerAndWatcher(): Promise<{ writer: PostgresStore; watcher: PostgresStore; alice: ReturnType<typeof makeDefaultToken> }> {
      const writer = open();
      const watcher = open();
      await writer.migrate();
      const alice = makeDefaultToken('alice');
      await writer.createAccount({ username: 'alice', created: T0 }, alice);
      return { writer, watcher, alice };
    }

    beforeEach(async () => {
      schema = await createTestSchema();
    });

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      await schema.drop();
    });

    it('has the shared migration list, the same names as SQLite', () => {
      assert.deepEqual(
        MIGRATIONS.map((m) => m.name),
        SQL_MIGRATIONS,
      );
      assert.deepEqual(
        MIGRATIONS.map((m) => m.name),
        SQLITE_MIGRATIONS.map((m) => m.name),
      );
    });

    it('four stores migrating a fresh schema at once apply each migration exactly once', async () => {
      const stores = [open(), open(), open(), open()];
      const results = await Promise.all(stores.map((s) => s.migrate()));
      const applied = results.flatMap((r) => r.applied);
      assert.deepEqual([...applied].sort(), [...SQL_MIGRATIONS].sort());
      assert.equal(results.filter((r) => r.applied.length > 0).length, 1, 'one store applied them all, in one transaction');
      const rows = await adminQuery<{ name: string; applied_at: number }>(`SELECT name, applied_at FROM ${schema.name}.schema_migrations ORDER BY name`);
      assert.deepEqual(
        rows.map((r) => r.name),
        SQL_MIGRATIONS,
      );
    });

    it('BIGINT times come back as JS numbers, above 2^31 and up to the largest Date', async () => {
      const store = open();
      await store.migrate();
      const far = 8_640_000_000_000_000;
      const token = makeDefaultToken('alice', { created: 2 ** 31 + 7, modified: 2 ** 40, lastUsed: far });
      assert.equal(await store.createAccount({ username: 'alice', created: 2 ** 33 }, token), true);
      const read = await store.getToken('alice', token.id);
      assert.deepEqual(read, token);
      assert.equal(typeof read?.lastUsed, 'number');
      assert.deepEqual(await store.getAccount('alice'), { username: 'alice', created: 2 ** 33 });
      await store.deleteToken('alice', token.id, far);
      const [change] = await store.changesSince(0, 10);
      assert.equal(change?.at, far);
      assert.equal(typeof (await store.latestChangeSeq()), 'number');
    });

    it('a change committed by another store instance wakes watchChanges', async () => {
      const { writer, watcher, alice } = await writerAndWatcher();
      const changed = signal();
      const listening = signal();
      const nextListen = listening.next();
      const stop = watcher.watchChanges(changed.fire, listening.fire);
      await nextListen;
      const woken = changed.next();
      await writer.updateToken('alice', alice.id, { note: 'x' }, T0 + 1);
      await woken;
      stop();
    });

    it('after its connection is terminated, LISTEN comes back, catches up once, and later changes still wake it', async () => {
      const { writer, watcher, alice } = await writerAndWatcher();
      const changed = signal();
      const reconnects: boolean[] = [];
      const listening = signal();
      const firstListen = listening.next();
      const stop = watcher.watchChanges(changed.fire, (reconnected) => {
        reconnects.push(reconnected);
        listening.fire();
      });
      await firstListen;
      const [backend] = await adminQuery<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'", [
        `${schema.name}-listen`,
      ]);
      assert.ok(backend !== undefined, 'the listening connection is found by its application_name');
      const catchUp = changed.next();
      const relisten = listening.next();
      await adminQuery('SELECT pg_terminate_backend($1)', [backend.pid]);
      await Promise.all([catchUp, relisten]);
      assert.deepEqual(reconnects, [false, true]);
      const woken = changed.next();
      await writer.deleteToken('alice', alice.id, T0 + 1);
      await woken;
      stop();
    });

    it('unsubscribing ends the LISTEN connection', async () => {
      const store = open();
      await store.migrate();
      const listening = signal();
      const listened = listening.next();
      const stop = store.watchChanges(() => undefined, listening.fire);
      await listened;
      stop();
      for (;;) {
        const rows = await adminQuery('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`${schema.name}-listen`]);
        if (rows.length === 0) break;
      }
    });

    it('concurrent deletes from two stores: a reader never sees a seq appear below one it has already seen', async () => {
      const a = open();
      const b = open();
      const reader = open();
      await a.migrate();
      await a.createAccount({ username: 'alice', created: T0 }, makeDefaultToken('alice'));
      const tokens = Array.from({ length: 80 }, () => makeToken('alice'));
      for (const t of tokens) assert.equal(await a.insertToken(t, 1000), true);
      let done = false;
      const deletes = Promise.all(tokens.map((t, i) => (i % 2 === 0 ? a : b).deleteToken('alice', t.id, T0 + i))).finally(() => {
        done = true;
      });
      // Two readers: one re-reads the whole log and checks that every seq new to it lies above
      // all it saw before; the other follows from its last seq, as a node does, and must miss none.
      let seenMax = 0;
      const seen = new Set<number>();
      let followerSeq = 0;
      const followed: number[] = [];
      for (let finalRead = false; !finalRead;) {
        finalRead = done;
        for (const change of await reader.changesSince(0, 1000)) {
          if (seen.has(change.seq)) continue;
          assert.ok(change.seq > seenMax, `seq ${change.seq} appeared after ${seenMax} was seen`);
          seen.add(change.seq);
          seenMax = change.seq;
        }
        const batch = await reader.changesSince(followerSeq, 1000);
        followed.push(...batch.map((c) => c.seq));
        followerSeq = batch.at(-1)?.seq ?? followerSeq;
      }
      assert.deepEqual(await deletes, Array<boolean>(tokens.length).fill(true));
      assert.equal(seen.size, tokens.length);
      assert.equal(followed.length, tokens.length, 'the follower missed none');
    });

    it('a writer that drew a seq and has not committed holds back every later append until it commits', async () => {
      const store = open();
      const token = await aliceWithToken(store);
      // A slow writer, as every appending transaction runs: the change-log lock, then its insert
      // (seq drawn), then... no commit yet.
      const slow = await holdLock(CHANGELOG_LOCK);
      try {
        await slow.query(`INSERT INTO ${schema.name}.token_changes (token_id, kind, at) VALUES ('cslow', 'update', $1)`, [T0]);
        let settled = false;
        const deleted = store.deleteToken('alice', token.id, T0 + 1).finally(() => {
          settled = true;
        });
        // Without the lock the delete would commit a higher seq now, and a follower reading it
        // would skip the slow writer's lower seq for ever.
        const blocked = async (): Promise<boolean> => {
          while (!settled) {
            const rows = await adminQuery("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [schema.name]);
            if (rows.length > 0) return true;
          }
          return false;
        };
        assert.equal(await blocked(), true, 'the delete waits for the change-log lock');
        assert.deepEqual(await store.changesSince(0, 10), []);
        await slow.release();
        assert.equal(await deleted, true);
        assert.deepEqual(
          (await store.changesSince(0, 10)).map((c) => c.tokenId),
          ['cslow', token.id],
        );
      } finally {
        await slow.end();
      }
    });

    it('runExclusive: a job held by one store makes another skip it, and runs there afterwards', async () => {
      const a = open();
      const b = open();
      let inner: boolean | undefined;
      assert.equal(
        await a.runExclusive('prune', async () => {
          inner = await b.runExclusive('prune', async () => assert.fail('ran while held'));
          assert.equal(await b.runExclusive('another-job', async () => undefined), true, 'other jobs are not held');
        }),
        true,
      );
      assert.equal(inner, false);
      let ran = false;
      assert.equal(
        await b.runExclusive('prune', async () => {
          ran = true;
        }),
        true,
      );
      assert.equal(ran, true);
    });

    it('a lock another session holds: a write waits lockWaitMs, then fails unavailable having written nothing', async () => {
      const store = open({ lockWaitMs: 200 });
      const token = await aliceWithToken(store);
      const holder = await holdLock(CHANGELOG_LOCK);
      try {
        const started = performance.now();
        await assert.rejects(store.deleteToken('alice', token.id, T0 + 1), (error: unknown) => error instanceof AppError && error.code === 'unavailable');
        const waited = performance.now() - started;
        assert.ok(waited >= 150 && waited < 5_000, `waited ${waited.toFixed(0)} ms`);
        await holder.release();
      } finally {
        await holder.end();
      }
      assert.notEqual(await store.getToken('alice', token.id), null, 'the refused delete wrote nothing');
      assert.deepEqual(await store.changesSince(0, 10), []);
      assert.equal(await store.deleteToken('alice', token.id, T0 + 2), true, 'and works once the lock is gone');
    });

    it("migrate waits for another node's migration however long it takes, not lockWaitMs", async () => {
      const holder = await holdLock(MIGRATION_LOCK);
      try {
        let settled = false;
        const migrating = open({ lockWaitMs: 100 })
          .migrate()
          .finally(() => {
            settled = true;
          });
        // Well past lockWaitMs: the migration is still waiting (in the server, for the lock).
        for (let seen = 0; seen < 3 && !settled;) {
          const rows = await adminQuery("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [schema.name]);
          if (rows.length > 0) seen += 1;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.equal(settled, false, 'migrate gave up while another node held the migration lock');
        await holder.release();
        assert.deepEqual((await migrating).applied, [...SQL_MIGRATIONS]);
      } finally {
        await holder.end();
      }
    });

    it('an unreachable server rejects with AppError unavailable within the connect timeout', async () => {
      const store = openPostgresStore('postgres://postgres@127.0.0.1:1/test', { connectTimeoutMs: 1000 });
      opened.push(store);
      const started = performance.now();
      for (const call of [() => store.ping(), () => store.migrate(), () => store.getAccount('alice'), () => store.deleteToken('alice', 'c1', T0)]) {
        await assert.rejects(call(), (error: unknown) => error instanceof AppError && error.code === 'unavailable');
      }
      assert.ok(performance.now() - started < 4 * 1000, 'each call failed within the connect timeout');
    });

    it('a closed store answers AppError unavailable', async () => {
      const store = openPostgresStore(schema.url);
      await store.migrate();
      await store.close();
      await assert.rejects(store.ping(), (error: unknown) => error instanceof AppError && error.code === 'unavailable');
      await assert.rejects(store.listAccounts(), (error: unknown) => error instanceof AppError && error.code === 'unavailable');
    });

    it('a pool of 2 never opens more than 2 connections, however many calls are in flight', async () => {
      const store = open({ poolSize: 2 });
      await store.migrate();
      await store.createAccount({ username: 'alice', created: T0 }, makeDefaultToken('alice'));
      const count = async (): Promise<number> =>
        (await adminQuery<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [schema.name]))[0]!.n;
      let most = 0;
      await store.runExclusive('busy', async () => {
        const calls = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? store.insertToken(makeToken('alice'), 1000) : store.listAccounts()));
        for (let i = 0; i < 5; i++) most = Math.max(most, await count());
        await Promise.all(calls);
      });
      most = Math.max(most, await count());
      assert.equal(most, 2);
      assert.throws(() => openPostgresStore(schema.url, { poolSize: 1 }), RangeError);
    });

    it('export → import moves every kind of record to another schema; an import into a non-empty store writes nothing', async () => {
      const source = open();
      await source.migrate();
      const records = await seedEverything(source);
      assert.deepEqual(new Set(records.map((r) => r.kind)), new Set(['account', 'token', 'usage', 'session', 'signingKey', 'adminKey', 'delete', 'audit']));

      const targetSchema = await createTestSchema();
      const target = openPostgresStore(targetSchema.url, { poolSize: 2 });
      try {
        await target.migrate();
        // Closing an export early gives its connection back (a pool of 2 would run dry otherwise).
        for (let i = 0; i < 3; i++) for await (const _ of target.exportRecords(1)) break;
        const begun = await target.beginImport();
        assert.ok(begun.empty);
        await begun.writer.write(records.slice(0, 5));
        await begun.writer.write(records.slice(5));
        await begun.writer.commit();
        assert.deepEqual(await collect(target), records);
        assert.deepEqual(await target.getAccountOverview('alice'), await source.getAccountOverview('alice'));
        assert.deepEqual(await target.listAudit({ limit: 100 }), await source.listAudit({ limit: 100 }));
        // The audit id sequence continues past the imported ids.
        await target.appendAudit({ at: T0, actor: { kind: 'cli', id: null }, account: null, action: 'session.sign_in_failed', target: null, ip: null });
        const [newest] = await target.listAudit({ limit: 1 });
        assert.ok(newest !== undefined && newest.id > Math.max(...records.flatMap((r) => (r.kind === 'audit' ? [r.id] : []))));

        const again = await target.beginImport();
        assert.equal(again.empty, false);
        assert.deepEqual(!again.empty && again.contents, { accounts: 2, signingKeys: 2, adminKeys: 1, auditEntries: 5 });
        const before = await collect(target);
        const refused = await source.beginImport();
        assert.equal(refused.empty, false);
        assert.deepEqual(await collect(target), before);
      } finally {
        await target.close();
        await targetSchema.drop();
      }
    });

    it('an aborted import leaves the store empty', async () => {
      const source = open();
      await source.migrate();
      const records = await seedEverything(source);
      const targetSchema = await createTestSchema();
      const target = openPostgresStore(targetSchema.url);
      try {
        await target.migrate();
        const begun = await target.beginImport();
        assert.ok(begun.empty);
        await begun.writer.write(records.filter((r) => r.kind === 'account'));
        // A token of a missing account is refused; abort then rolls everything back.
        await assert.rejects(begun.writer.write([{ ...(records.find((r) => r.kind === 'token') as TransferRecord & { kind: 'token' }), username: 'nobody' }]));
        await begun.writer.abort();
        await begun.writer.abort();
        assert.deepEqual(await collect(target), []);
        const fresh = await target.beginImport();
        assert.equal(fresh.empty, true);
        if (fresh.empty) await fresh.writer.abort();
      } finally {
        await target.close();
        await targetSchema.drop();
      }
    });
  });
}

async function collect(store: PostgresStore): Promise<TransferRecord[]> {
  const records: TransferRecord[] = [];
  for await (const record of store.exportRecords(2)) records.push(record);
  return records;
}

/** One or more records of every kind, then the store's own export of them. */
async function seedEverything(store: PostgresStore): Promise<TransferRecord[]> {
  const cli = { kind: 'cli', id: null } as const;
  const alice = makeDefaultToken('alice');
  await store.createAccount({ username: 'alice', created: T0 }, alice, '$argon2id$alice', [
    { at: T0, actor: cli, account: 'alice', action: 'account.create', target: null, ip: null },
  ]);
  await store.createAccount({ username: 'bob', created: T0 + 1 }, makeDefaultToken('bob'));
  const sk = makeToken('alice', {
    usage: 'sk',
    note: 'café 🚀',
    allowedUrls: ['https://a.example'],
    allowedApplications: [{ platform: 'ios', bundleId: 'a.b' }],
  });
  const gone = makeToken('alice');
  await store.insertToken(sk, 10, { at: T0, actor: cli, account: 'alice', action: 'token.create', target: sk.id, ip: '::1' });
  await store.insertToken(gone, 10);
  await store.addUsage([
    { tokenId: sk.id, day: utcDay(T0), count: 3, lastUsed: T0 + 5 },
    { tokenId: sk.id, day: utcDay(T0) + DAY_MS, count: 2, lastUsed: T0 + DAY_MS },
  ]);
  await store.deleteToken('alice', gone.id, T0 + 2, { at: T0 + 2, actor: cli, account: 'alice', action: 'token.delete', target: gone.id, ip: null });
  await store.createSession({ idHash: 's1', username: 'alice', created: T0, expires: T0 + 1000 });
  await store.addSigningKey({ id: 'k1', sealedKey: 'sealed-1', created: T0, retired: null });
  await store.addSigningKey({ id: 'k2', sealedKey: 'sealed-2', created: T0 + 10, retired: null });
  await store.insertAdminKey({ id: 'a1', note: 'ops', keyHash: 'hash-a1', created: T0 });
  await store.setAccountDisabled('bob', true, T0 + 3, { at: T0 + 3, actor: cli, account: 'bob', action: 'account.disable', target: null, ip: null });
  return collect(store);
}
