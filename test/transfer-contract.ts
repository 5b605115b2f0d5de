/**
 * The transfer contract (src/store/transfer.ts): every backend that can be moved runs it, each
 * test on fresh stores. Like test/store-contract.ts it speaks only through the ports, so the
 * PostgreSQL backend runs the same file with its own `open`.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AuditEntryInput, Store } from '../src/store/port.js';
import { DAY_MS } from '../src/store/port.js';
import { TRANSFER_ORDER, type TransferableStore, type TransferRecord } from '../src/store/transfer.js';
import { makeDefaultToken, makeToken, type OpenedStore } from './store-contract.js';

export type TransferStore = Store & TransferableStore;

export interface OpenedTransferStore extends OpenedStore {
  readonly store: TransferStore;
}

const T0 = 1_700_000_000_000;
const DAY0 = Math.floor(T0 / DAY_MS) * DAY_MS;

function cliEntry(action: AuditEntryInput['action'], account: string | null, target: string | null, at = T0): AuditEntryInput {
  return { at, actor: { kind: 'cli', id: null }, account, action, target, ip: null };
}

/** Every record of the store, in export order. */
export async function exportAll(store: TransferableStore, pageSize?: number): Promise<TransferRecord[]> {
  const records: TransferRecord[] = [];
  for await (const record of store.exportRecords(pageSize)) records.push(record);
  return records;
}

/** Writes `records` into an empty store through one import, in batches of `batchSize`. */
export async function importAll(store: TransferableStore, records: readonly TransferRecord[], batchSize = 3): Promise<void> {
  const begun = await store.beginImport();
  assert.equal(begun.empty, true, 'the target is not empty');
  if (!begun.empty) return;
  try {
    for (let i = 0; i < records.length; i += batchSize) await begun.writer.write(records.slice(i, i + batchSize));
    await begun.writer.commit();
  } catch (error) {
    await begun.writer.abort();
    throw error;
  }
}

/** Within a kind the order is the backend's own: compare as sorted JSON text per kind. */
export function canonical(records: readonly TransferRecord[]): string[] {
  return TRANSFER_ORDER.flatMap((kind) =>
    records
      .filter((r) => r.kind === kind)
      .map((r) => JSON.stringify(r, Object.keys(r).sort()))
      .sort(),
  );
}

/** The ids and hashes a populated store holds, for checks through the port. */
export interface Populated {
  readonly alicePk: ReturnType<typeof makeToken>;
  readonly aliceSk: ReturnType<typeof makeToken>;
  readonly deleted: ReturnType<typeof makeToken>;
  readonly sessionHash: string;
}

/**
 * One of everything: two accounts (bob disabled; alice with a password), default tokens, a pk
 * with URL and app restrictions, an sk, usage with `lastUsed`, a session, two signing keys (the
 * first retired, sealed by `sealKey`), an admin key, a deleted token, and audit entries.
 */
export async function populate(store: Store, sealKey: (id: string) => string = (id) => `v1.sealed-${id}`): Promise<Populated> {
  const aliceDefault = makeDefaultToken('alice');
  assert.ok(
    await store.createAccount({ username: 'alice', created: T0 }, aliceDefault, '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', [
      cliEntry('account.create', 'alice', null),
    ]),
  );
  assert.ok(await store.createAccount({ username: 'bob', created: T0 + 1 }, makeDefaultToken('bob', { created: T0 + 1, modified: T0 + 1 })));
  const alicePk = makeToken('alice', {
    note: 'maps',
    allowedUrls: ['https://maps.example.com/app', 'example.org'],
    allowedApplications: [{ platform: 'iOS', bundleId: 'com.example.maps' }],
    created: T0 + 2,
    modified: T0 + 3,
  });
  const aliceSk = makeToken('alice', { usage: 'sk', scopes: ['styles:read', 'tokens:write'], created: T0 + 4, modified: T0 + 4, createdBy: 'admin:ckey' });
  const deleted = makeToken('alice', { created: T0 + 5, modified: T0 + 5 });
  for (const token of [alicePk, aliceSk, deleted]) assert.ok(await store.insertToken(token, 100, cliEntry('token.create', 'alice', token.id)));
  await store.addUsage([
    { tokenId: alicePk.id, day: DAY0, count: 7, lastUsed: T0 + 10 },
    { tokenId: alicePk.id, day: DAY0 + DAY_MS, count: 2, lastUsed: T0 + DAY_MS },
    { tokenId: aliceSk.id, day: DAY0, count: 1, lastUsed: T0 + 11 },
  ]);
  const sessionHash = 'c2Vzc2lvbi1oYXNoLW9mLWFsaWNl';
  assert.ok(await store.createSession({ idHash: sessionHash, username: 'alice', created: T0, expires: T0 + 365 * DAY_MS * 100 }));
  await store.addSigningKey({ id: 'ckey1aaaaaaaaaaaaaaaaaaaaa', sealedKey: sealKey('ckey1aaaaaaaaaaaaaaaaaaaaa'), created: T0, retired: null });
  await store.addSigningKey(
    { id: 'ckey2aaaaaaaaaaaaaaaaaaaaa', sealedKey: sealKey('ckey2aaaaaaaaaaaaaaaaaaaaa'), created: T0 + 20, retired: null },
    cliEntry('key.rotate', null, 'ckey2aaaaaaaaaaaaaaaaaaaaa'),
  );
  await store.insertAdminKey(
    { id: 'cadminaaaaaaaaaaaaaaaaaaa', note: 'ops', keyHash: 'YWRtaW4ta2V5LWhhc2g', created: T0 + 30 },
    cliEntry('admin_key.create', null, 'cadminaaaaaaaaaaaaaaaaaaa'),
  );
  assert.ok(await store.deleteToken('alice', deleted.id, T0 + 40, cliEntry('token.delete', 'alice', deleted.id)));
  assert.ok(await store.setAccountDisabled('bob', true, T0 + 50, cliEntry('account.disable', 'bob', null)));
  await store.appendAudit({
    ...cliEntry('session.sign_in_failed', 'alice', null),
    actor: { kind: 'web', id: null },
    ip: '192.0.2.1',
    details: { reason: 'password' },
  });
  return { alicePk, aliceSk, deleted, sessionHash };
}

export function runTransferContract(name: string, open: () => Promise<OpenedTransferStore>): void {
  describe(`transfer contract: ${name}`, () => {
    let source: TransferStore;
    let target: TransferStore;
    const cleanups: (() => Promise<void>)[] = [];

    beforeEach(async () => {
      const a = await open();
      const b = await open();
      cleanups.push(a.cleanup, b.cleanup);
      source = a.store;
      target = b.store;
      await source.migrate();
      await target.migrate();
    });

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });

    it('an empty store exports nothing and imports into an empty store', async () => {
      assert.deepEqual(await exportAll(source), []);
      await importAll(target, []);
      assert.deepEqual(await exportAll(target), []);
    });

    it('exports every kind in TRANSFER_ORDER, and an import reproduces the same records', async () => {
      await populate(source);
      const records = await exportAll(source, 2);
      const kinds = records.map((r) => r.kind);
      assert.deepEqual([...new Set(kinds)], TRANSFER_ORDER, 'every kind, each once in order');
      assert.deepEqual(
        kinds.map((k) => TRANSFER_ORDER.indexOf(k)),
        [...kinds.map((k) => TRANSFER_ORDER.indexOf(k))].sort((a, b) => a - b),
      );
      await importAll(target, records);
      assert.deepEqual(canonical(await exportAll(target)), canonical(records));
      // Through JSON, as the file carries them.
      assert.deepEqual(canonical(JSON.parse(JSON.stringify(records)) as TransferRecord[]), canonical(records));
    });

    it('the imported store answers the port as the source did', async () => {
      const { alicePk, aliceSk, deleted, sessionHash } = await populate(source);
      await importAll(target, await exportAll(source));
      for (const store of [source, target]) {
        assert.deepEqual(await store.getAccountOverview('alice'), { username: 'alice', created: T0, tokenCount: 3, disabled: false });
        assert.deepEqual(await store.getAccountOverview('bob'), { username: 'bob', created: T0 + 1, tokenCount: 1, disabled: true });
        assert.match((await store.getPasswordHash('alice')) ?? '', /^\$argon2id\$/);
        assert.deepEqual(await store.findTokenByHash(alicePk.tokenHash), { ...alicePk, lastUsed: T0 + DAY_MS });
        assert.deepEqual(await store.findTokenByHash(aliceSk.tokenHash), { ...aliceSk, lastUsed: T0 + 11 });
        assert.equal(await store.findTokenByHash(deleted.tokenHash), null);
        assert.equal(await store.deletedTokenHash(deleted.id), deleted.tokenHash);
        assert.deepEqual(
          (await store.recentDeletes(0)).map((c) => [c.tokenId, c.at]),
          [[deleted.id, T0 + 40]],
        );
        assert.deepEqual(await store.usageByDay(alicePk.id, DAY0, DAY0 + DAY_MS), [
          { day: DAY0, count: 7 },
          { day: DAY0 + DAY_MS, count: 2 },
        ]);
        assert.equal((await store.findSession(sessionHash, T0))?.username, 'alice');
        assert.deepEqual(
          (await store.listSigningKeys()).map((k) => [k.id, k.retired]),
          [
            ['ckey2aaaaaaaaaaaaaaaaaaaaa', null],
            ['ckey1aaaaaaaaaaaaaaaaaaaaa', T0 + 20],
          ],
        );
        assert.equal((await store.findAdminKeyByHash('YWRtaW4ta2V5LWhhc2g'))?.note, 'ops');
      }
      const sourceAudit = await source.listAudit({ limit: 100 });
      assert.deepEqual(await target.listAudit({ limit: 100 }), sourceAudit);
      assert.deepEqual(await target.listAudit({ limit: 2, before: sourceAudit[1]?.id }), await source.listAudit({ limit: 2, before: sourceAudit[1]?.id }));
    });

    it('after an import, new audit ids and change seqs continue past the imported ones, and the token limit counts the imported tokens', async () => {
      await populate(source);
      await importAll(target, await exportAll(source));
      const top = (await target.listAudit({ limit: 1 }))[0]?.id ?? 0;
      await target.appendAudit(cliEntry('account.create', 'carol', null));
      assert.ok(((await target.listAudit({ limit: 1 }))[0]?.id ?? 0) > top);
      const seq = await target.latestChangeSeq();
      assert.ok(seq >= 1);
      assert.ok(await target.deleteToken('alice', (await target.listTokens('alice', { sortBy: 'created', after: null, limit: 1 }))[0]?.id ?? '', T0 + 60));
      assert.ok((await target.latestChangeSeq()) > seq);
      // alice holds 2 tokens now: a limit of 2 is full, 3 has room.
      assert.equal(await target.insertToken(makeToken('alice'), 2), false);
      assert.equal(await target.insertToken(makeToken('alice'), 3), true);
    });

    it('an export is one snapshot: an account created while it is read is not in it', async () => {
      await populate(source);
      const seen: TransferRecord[] = [];
      let wrote = false;
      for await (const record of source.exportRecords(1)) {
        seen.push(record);
        if (!wrote) {
          wrote = true;
          assert.ok(await source.createAccount({ username: 'carol', created: T0 }, makeDefaultToken('carol')));
          await source.appendAudit(cliEntry('account.create', 'carol', null));
        }
      }
      assert.ok(!seen.some((r) => (r.kind === 'account' || r.kind === 'token') && r.username === 'carol'));
      assert.ok(!seen.some((r) => r.kind === 'audit' && r.account === 'carol'));
      assert.ok((await exportAll(source)).some((r) => r.kind === 'account' && r.username === 'carol'));
    });

    it('an export abandoned early ends its snapshot: writes succeed, and the next export sees them', async () => {
      await populate(source);
      for await (const record of source.exportRecords(1)) {
        assert.equal(record.kind, 'account');
        break;
      }
      assert.ok(await source.createAccount({ username: 'carol', created: T0 }, makeDefaultToken('carol')));
      assert.ok((await exportAll(source)).some((r) => r.kind === 'account' && r.username === 'carol'));
    });

    it('an import into a store that holds anything is refused, names what it holds, and writes nothing', async () => {
      await populate(target);
      const before = canonical(await exportAll(target));
      const begun = await target.beginImport();
      assert.equal(begun.empty, false);
      if (begun.empty) return;
      assert.deepEqual(begun.contents, { accounts: 2, signingKeys: 2, adminKeys: 1, auditEntries: 9 });
      assert.deepEqual(canonical(await exportAll(target)), before);
      // The write lock is released: the store takes writes at once.
      assert.ok(await target.createAccount({ username: 'carol', created: T0 }, makeDefaultToken('carol')));
    });

    for (const [what, fill] of [
      ['an admin key', (s: Store) => s.insertAdminKey({ id: 'cadminaaaaaaaaaaaaaaaaaaa', note: '', keyHash: 'aGFzaA', created: T0 })],
      ['a signing key', (s: Store) => s.addSigningKey({ id: 'ckey1aaaaaaaaaaaaaaaaaaaaa', sealedKey: 'v1.x', created: T0, retired: null })],
      ['an audit entry', (s: Store) => s.appendAudit(cliEntry('session.sign_in_failed', null, null))],
    ] as const) {
      it(`a store holding only ${what} is not empty`, async () => {
        await fill(target);
        assert.equal((await target.beginImport()).empty, false);
      });
    }

    it('abort leaves the store empty, and it can be imported into afterwards', async () => {
      await populate(source);
      const records = await exportAll(source);
      const begun = await target.beginImport();
      assert.ok(begun.empty);
      await begun.writer.write(records.slice(0, 5));
      await begun.writer.abort();
      assert.deepEqual(await exportAll(target), []);
      assert.equal(await target.getAccount('alice'), null);
      await importAll(target, records);
      assert.deepEqual(canonical(await exportAll(target)), canonical(records));
    });

    it('a record the store refuses rejects the write; after abort nothing is there', async () => {
      const begun = await target.beginImport();
      assert.ok(begun.empty);
      await assert.rejects(begun.writer.write([{ kind: 'token', ...makeToken('nobody') }]));
      await begun.writer.abort();
      assert.deepEqual(await exportAll(target), []);
      const again = await target.beginImport();
      assert.ok(again.empty);
      await again.writer.abort();
    });

    it('a duplicate record rejects', async () => {
      const account: TransferRecord = { kind: 'account', username: 'alice', created: T0, passwordHash: null, disabled: false };
      const begun = await target.beginImport();
      assert.ok(begun.empty);
      await begun.writer.write([account]);
      await assert.rejects(begun.writer.write([account]));
      await begun.writer.abort();
      assert.equal(await target.getAccount('alice'), null);
    });
  });
}
