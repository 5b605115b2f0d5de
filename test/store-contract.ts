/**
 * The store contract suite (src/store/port.ts): every backend runs it, each test on a fresh
 * store. It states behaviour only through the port, so a new backend passes it or is wrong.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { hashToken, newStoredToken, newTokenId } from '../src/domain/token-format.js';
import { DAY_MS, storedSize, utcDay, type AuditEntryInput, type ListQuery, type SortBy, type Store, type TokenRecord } from '../src/store/port.js';
import type { AuditAction } from '../src/domain/audit.js';

export interface OpenedStore {
  readonly store: Store;
  readonly cleanup: () => Promise<void>;
  /** The migrations a fresh store's first `migrate` applies: SQL_MIGRATIONS for an SQL backend. */
  readonly migrations: readonly string[];
}

/**
 * The schema history every SQL backend applies, in order, under these names (`schema_migrations`
 * records them): a backend that skips or renames one fails the contract.
 */
export const SQL_MIGRATIONS: readonly string[] = [
  '001_initial',
  '002_change_kind_key',
  '003_usage',
  '004_page',
  '005_admin_keys',
  '006_account_disabled',
  '007_audit',
];

const T0 = 1_700_000_000_000;
const PUBLIC_SCOPES = ['styles:read', 'fonts:read'];

/** A valid record; a fresh id and token string (hence hash) each call. */
export function makeToken(username: string, fields: Partial<TokenRecord> = {}): TokenRecord {
  const id = fields.id ?? newTokenId();
  const usage = fields.usage ?? 'pk';
  const token = newStoredToken(usage, username, id);
  return {
    id,
    username,
    usage,
    note: '',
    scopes: ['styles:read'],
    allowedUrls: null,
    allowedApplications: null,
    isDefault: false,
    tokenHash: hashToken(token),
    sealedToken: usage === 'pk' ? `sealed:${token}` : null,
    created: T0,
    modified: T0,
    createdBy: 'cli',
    lastUsed: null,
    ...fields,
  };
}

export function makeDefaultToken(username: string, fields: Partial<TokenRecord> = {}): TokenRecord {
  return makeToken(username, { note: 'Default Public Token', scopes: PUBLIC_SCOPES, isDefault: true, ...fields });
}

/** Creates the account with its default token and returns that token. */
async function addAccount(store: Store, username: string, created = T0): Promise<TokenRecord> {
  const token = makeDefaultToken(username, { created, modified: created });
  assert.equal(await store.createAccount({ username, created }, token), true);
  return token;
}

/** The expected order: newest first by the sort key, ties by id descending. */
function expectedOrder(tokens: readonly TokenRecord[], sortBy: SortBy): string[] {
  return [...tokens].sort((a, b) => b[sortBy] - a[sortBy] || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).map((t) => t.id);
}

/** Every page of a listing, following the keyset cursor from the last item of each page. */
async function allPages(store: Store, username: string, query: Omit<ListQuery, 'after'>): Promise<TokenRecord[][]> {
  const pages: TokenRecord[][] = [];
  const seen = new Set<string>();
  let after: ListQuery['after'] = null;
  for (;;) {
    const page = await store.listTokens(username, { ...query, after });
    assert.ok(page.length <= query.limit);
    if (page.length === 0) return pages;
    // A cursor that does not move on would loop for ever; fail on the first repeat instead.
    for (const t of page) {
      assert.ok(!seen.has(t.id), `token ${t.id} listed twice`);
      seen.add(t.id);
    }
    pages.push(page);
    const last = page[page.length - 1]!;
    after = { sortValue: last[query.sortBy], id: last.id };
  }
}

const ids = (tokens: readonly TokenRecord[]): string[] => tokens.map((t) => t.id);
const everything = (sortBy: SortBy = 'created'): ListQuery => ({ sortBy, after: null, limit: 1000 });

export function runStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('lifecycle', () => {
      it("a fresh store's first migrate applies the backend's migrations, in order", async () => {
        const fresh = await open();
        try {
          assert.deepEqual((await fresh.store.migrate()).applied, fresh.migrations);
          assert.deepEqual((await fresh.store.migrate()).applied, []);
        } finally {
          await fresh.cleanup();
        }
      });

      it('migrate applies nothing once the store is current', async () => {
        assert.deepEqual((await store.migrate()).applied, []);
        assert.deepEqual((await store.migrate()).applied, []);
      });

      it('ping resolves while open and rejects after close; close is idempotent', async () => {
        await store.ping();
        await store.close();
        await store.close();
        await assert.rejects(store.ping());
      });
    });

    describe('accounts', () => {
      it('createAccount stores the account and its default token together', async () => {
        const token = await addAccount(store, 'alice');
        assert.deepEqual(await store.getAccount('alice'), { username: 'alice', created: T0 });
        assert.deepEqual(await store.getToken('alice', token.id), token);
        assert.deepEqual(await store.findTokenByHash(token.tokenHash), token);
      });

      it('createAccount returns false for an existing username and writes nothing', async () => {
        const first = await addAccount(store, 'alice');
        const second = makeDefaultToken('alice');
        assert.equal(await store.createAccount({ username: 'alice', created: T0 + 5 }, second), false);
        assert.deepEqual(await store.getAccount('alice'), { username: 'alice', created: T0 });
        assert.equal(await store.findTokenById(second.id), null);
        assert.equal(await store.findTokenByHash(second.tokenHash), null);
        assert.deepEqual(ids(await store.listTokens('alice', everything())), [first.id]);
      });

      it('createAccount is atomic: when the token cannot be stored, no account is created', async () => {
        const alice = await addAccount(store, 'alice');
        const clash = makeDefaultToken('bob', { tokenHash: alice.tokenHash });
        await assert.rejects(store.createAccount({ username: 'bob', created: T0 }, clash));
        assert.equal(await store.getAccount('bob'), null);
        assert.equal(await store.findTokenById(clash.id), null);
        assert.deepEqual(await store.listAccounts(), [{ username: 'alice', created: T0 }]);
      });

      it('createAccount refuses a token that is not a default token of that account', async () => {
        await assert.rejects(store.createAccount({ username: 'alice', created: T0 }, makeDefaultToken('bob')));
        await assert.rejects(store.createAccount({ username: 'alice', created: T0 }, makeToken('alice')));
        assert.equal(await store.getAccount('alice'), null);
      });

      it('getAccount returns null for an unknown username', async () => {
        assert.equal(await store.getAccount('nobody'), null);
      });

      it('listAccounts is oldest first, ties by username', async () => {
        await addAccount(store, 'carol', T0 + 10);
        await addAccount(store, 'bob', T0);
        await addAccount(store, 'dave', T0 - 10);
        await addAccount(store, 'alice', T0);
        const names = (await store.listAccounts()).map((a) => a.username);
        assert.deepEqual(names, ['dave', 'alice', 'bob', 'carol']);
      });
    });

    describe('account overviews', () => {
      it('getAccountOverview counts the tokens the account holds now; null for an unknown account', async () => {
        const alice = await addAccount(store, 'alice', T0 + 5);
        assert.deepEqual(await store.getAccountOverview('alice'), { username: 'alice', created: T0 + 5, tokenCount: 1, disabled: false });
        const sk = makeToken('alice', { usage: 'sk' });
        assert.equal(await store.insertToken(sk, 10), true);
        assert.equal(await store.insertToken(makeToken('alice'), 10), true);
        assert.equal((await store.getAccountOverview('alice'))?.tokenCount, 3);
        await store.deleteToken('alice', sk.id, T0 + 6);
        await store.replaceDefaultToken('alice', alice.id, makeDefaultToken('alice'), T0 + 7);
        assert.equal((await store.getAccountOverview('alice'))?.tokenCount, 2);
        assert.equal(await store.getAccountOverview('nobody'), null);
      });

      it('listAccountOverviews pages oldest first, ties by username, strictly after the cursor', async () => {
        await addAccount(store, 'carol', T0 + 10);
        await addAccount(store, 'bob', T0);
        await addAccount(store, 'dave', T0 - 10);
        await addAccount(store, 'alice', T0);
        await store.insertToken(makeToken('bob'), 10);
        const all = await store.listAccountOverviews(null, 100);
        assert.deepEqual(all, [
          { username: 'dave', created: T0 - 10, tokenCount: 1, disabled: false },
          { username: 'alice', created: T0, tokenCount: 1, disabled: false },
          { username: 'bob', created: T0, tokenCount: 2, disabled: false },
          { username: 'carol', created: T0 + 10, tokenCount: 1, disabled: false },
        ]);
        const names: string[] = [];
        let after: { created: number; username: string } | null = null;
        for (;;) {
          const page = await store.listAccountOverviews(after, 3);
          if (page.length === 0) break;
          names.push(...page.map((a) => a.username));
          const last = page.at(-1)!;
          after = { created: last.created, username: last.username };
        }
        assert.deepEqual(names, ['dave', 'alice', 'bob', 'carol']);
        // A cursor at a position no account holds (a deleted one) still continues after it.
        assert.deepEqual(
          (await store.listAccountOverviews({ created: T0, username: 'alicf' }, 10)).map((a) => a.username),
          ['bob', 'carol'],
        );
        assert.deepEqual(await store.listAccountOverviews(null, 0), []);
        assert.deepEqual(await store.listAccountOverviews({ created: T0 + 10, username: 'carol' }, 10), []);
      });
    });

    describe('admin keys', () => {
      const key = (id: string, created = T0, keyHash = `hash-${id}`) => ({ id, note: `note ${id}`, keyHash, created });

      it('insertAdminKey stores a key found by its hash; listAdminKeys is oldest first, ties by id', async () => {
        assert.deepEqual(await store.listAdminKeys(), []);
        await store.insertAdminKey(key('k2', T0 + 1));
        await store.insertAdminKey(key('k3', T0));
        await store.insertAdminKey(key('k1', T0));
        assert.deepEqual(await store.findAdminKeyByHash('hash-k2'), key('k2', T0 + 1));
        assert.equal(await store.findAdminKeyByHash('hash-unknown'), null);
        assert.deepEqual(
          (await store.listAdminKeys()).map((k) => k.id),
          ['k1', 'k3', 'k2'],
        );
      });

      it('insertAdminKey rejects a duplicate id or hash and writes nothing; no change-log entry', async () => {
        await store.insertAdminKey(key('k1'));
        await assert.rejects(store.insertAdminKey(key('k1', T0, 'hash-other')));
        await assert.rejects(store.insertAdminKey(key('k2', T0, 'hash-k1')));
        assert.deepEqual(await store.listAdminKeys(), [key('k1')]);
        assert.equal(await store.findAdminKeyByHash('hash-other'), null);
        assert.equal(await store.latestChangeSeq(), 0);
      });

      it('deleteAdminKey removes the key at once; a second or unknown delete is false', async () => {
        await store.insertAdminKey(key('k1'));
        await store.insertAdminKey(key('k2'));
        assert.equal(await store.deleteAdminKey('k1'), true);
        assert.equal(await store.findAdminKeyByHash('hash-k1'), null);
        assert.equal(await store.deleteAdminKey('k1'), false);
        assert.equal(await store.deleteAdminKey('nope'), false);
        assert.deepEqual(await store.listAdminKeys(), [key('k2')]);
      });

      it('of concurrent deletes of one key exactly one is true', async () => {
        await store.insertAdminKey(key('k1'));
        const results = await Promise.all(Array.from({ length: 4 }, () => store.deleteAdminKey('k1')));
        assert.equal(results.filter(Boolean).length, 1);
      });
    });

    describe('insertToken', () => {
      it('inserts until the account holds maxTokens, then returns false and writes nothing', async () => {
        await addAccount(store, 'alice');
        const [a, b, c] = [makeToken('alice'), makeToken('alice'), makeToken('alice')];
        assert.equal(await store.insertToken(a, 3), true);
        assert.equal(await store.insertToken(b, 3), true);
        assert.equal(await store.insertToken(c, 3), false);
        assert.equal(await store.findTokenById(c.id), null);
        assert.equal(await store.findTokenByHash(c.tokenHash), null);
        assert.equal((await store.listTokens('alice', everything())).length, 3);
        assert.deepEqual(await store.getToken('alice', b.id), b);
      });

      // In one process the backends run each call to completion (SQLite is synchronous, the memory
      // store never awaits), so these calls cannot interleave: this states the limit's answers.
      // Interleaving is tested where it can happen: processes racing on one SQLite file
      // (store.test.ts), and later PostgreSQL connections.
      it('inserts issued together stop exactly at the limit, and the refused ones write nothing', async () => {
        await addAccount(store, 'alice');
        const attempts = Array.from({ length: 12 }, () => makeToken('alice'));
        const results = await Promise.all(attempts.map((t) => store.insertToken(t, 3)));
        assert.equal(results.filter((ok) => ok).length, 2);
        const stored = await store.listTokens('alice', everything());
        assert.equal(stored.length, 3);
        const inserted = attempts
          .filter((_, i) => results[i])
          .map((t) => t.id)
          .sort();
        assert.deepEqual(
          stored
            .filter((t) => !t.isDefault)
            .map((t) => t.id)
            .sort(),
          inserted,
        );
      });

      it('a delete frees a slot; a refused insert and a refresh of the default token use none', async () => {
        const alice = await addAccount(store, 'alice');
        const a = makeToken('alice');
        assert.equal(await store.insertToken(a, 2), true);
        await assert.rejects(store.insertToken(makeToken('alice', { tokenHash: a.tokenHash }), 3));
        assert.equal(await store.insertToken(makeToken('alice'), 2), false);
        assert.equal(await store.replaceDefaultToken('alice', alice.id, makeDefaultToken('alice'), T0 + 1), true);
        assert.equal(await store.insertToken(makeToken('alice'), 2), false);
        assert.equal(await store.deleteToken('alice', a.id, T0 + 2), true);
        assert.equal(await store.insertToken(makeToken('alice'), 2), true);
        assert.equal(await store.insertToken(makeToken('alice'), 2), false);
      });

      it("counts only the account's own tokens", async () => {
        await addAccount(store, 'alice');
        await addAccount(store, 'bob');
        assert.equal(await store.insertToken(makeToken('alice'), 2), true);
        assert.equal(await store.insertToken(makeToken('bob'), 2), true);
        assert.equal(await store.insertToken(makeToken('alice'), 2), false);
      });

      it('rejects a duplicate hash, an unknown account and a second default token', async () => {
        const alice = await addAccount(store, 'alice');
        await assert.rejects(store.insertToken(makeToken('alice', { tokenHash: alice.tokenHash }), 10));
        await assert.rejects(store.insertToken(makeToken('nobody'), 10));
        await assert.rejects(store.insertToken(makeDefaultToken('alice'), 10));
        assert.deepEqual(ids(await store.listTokens('alice', everything())), [alice.id]);
      });
    });

    describe('reading tokens', () => {
      it('findTokenByHash returns the whole record, or null for an unknown hash', async () => {
        await addAccount(store, 'alice');
        const sk = makeToken('alice', { usage: 'sk', scopes: ['tokens:write'], lastUsed: T0 + 7, createdBy: 'cabc' });
        assert.equal(await store.insertToken(sk, 10), true);
        assert.deepEqual(await store.findTokenByHash(sk.tokenHash), sk);
        assert.equal((await store.findTokenByHash(sk.tokenHash))?.sealedToken, null);
        assert.equal(await store.findTokenByHash(hashToken('pk.nothing.here')), null);
      });

      it('getToken is scoped to the username', async () => {
        const alice = await addAccount(store, 'alice');
        await addAccount(store, 'bob');
        assert.deepEqual(await store.getToken('alice', alice.id), alice);
        assert.equal(await store.getToken('bob', alice.id), null);
        assert.equal(await store.getToken('alice', newTokenId()), null);
      });

      it('findTokenById returns the whole record from any account; null for deleted or unknown ids', async () => {
        const alice = await addAccount(store, 'alice');
        await addAccount(store, 'bob');
        const sk = makeToken('bob', { usage: 'sk', scopes: ['tokens:write'], allowedUrls: ['https://b.example'] });
        await store.insertToken(sk, 10);
        assert.deepEqual(await store.findTokenById(alice.id), alice);
        assert.deepEqual(await store.findTokenById(sk.id), sk);
        assert.equal(await store.findTokenById(newTokenId()), null);
        await store.deleteToken('bob', sk.id, T0 + 1);
        assert.equal(await store.findTokenById(sk.id), null);
        await store.updateToken('alice', alice.id, { note: 'renamed' }, T0 + 2);
        assert.deepEqual(await store.findTokenById(alice.id), { ...alice, note: 'renamed', modified: T0 + 2 });
      });

      it('JSON fields and Unicode notes round-trip exactly', async () => {
        await addAccount(store, 'alice');
        const t = makeToken('alice', {
          note: 'café 🚀🗺️ 東京の地図 — "quoted" \\ back\nline',
          scopes: ['styles:read', 'fonts:read', 'datasets:read'],
          allowedUrls: ['https://example.com/路径', 'http://localhost:8080'],
          allowedApplications: [
            { platform: 'ios', bundleId: 'com.example.app' },
            { platform: 'android', bundleId: 'com.example.地図' },
          ],
        });
        await store.insertToken(t, 10);
        const empty = makeToken('alice', { note: '', scopes: [], allowedUrls: [] });
        await store.insertToken(empty, 10);
        assert.deepEqual(await store.getToken('alice', t.id), t);
        assert.deepEqual(await store.findTokenByHash(t.tokenHash), t);
        assert.deepEqual(
          (await store.listTokens('alice', everything())).find((x) => x.id === t.id),
          t,
        );
        assert.deepEqual(await store.getToken('alice', empty.id), empty);
      });

      it('callers cannot change stored records through inputs or results', async () => {
        await addAccount(store, 'alice');
        const scopes = ['styles:read'];
        const apps = [{ platform: 'ios', bundleId: 'a.b' }];
        const input = makeToken('alice', { scopes, allowedApplications: apps });
        const expected = structuredClone(input);
        await store.insertToken(input, 10);
        scopes.push('fonts:read');
        apps[0]!.bundleId = 'changed';
        const read = await store.getToken('alice', input.id);
        assert.deepEqual(read, expected);
        try {
          (read.scopes as string[]).push('x:y');
          (read as { note: string }).note = 'changed';
        } catch {
          // Frozen results throw in strict mode; copies do not. Either way nothing is stored.
        }
        assert.deepEqual(await store.getToken('alice', input.id), expected);
      });
    });

    describe('listTokens', () => {
      async function seed(): Promise<TokenRecord[]> {
        const made = [await addAccount(store, 'alice', T0 - 100)];
        // Seven tokens share one `created`, so the order among them is decided by id alone.
        for (let i = 0; i < 12; i++) {
          const created = i < 7 ? T0 : T0 + i * 10;
          const t = makeToken('alice', {
            created,
            modified: created,
            usage: i % 3 === 0 ? 'sk' : 'pk',
          });
          assert.equal(await store.insertToken(t, 100), true);
          made.push(t);
        }
        await addAccount(store, 'bob');
        await store.insertToken(makeToken('bob'), 100);
        return made;
      }

      it('lists newest first with ties broken by id descending, only that account', async () => {
        const made = await seed();
        const listed = await store.listTokens('alice', everything());
        assert.deepEqual(ids(listed), expectedOrder(made, 'created'));
        assert.ok(listed.every((t) => t.username === 'alice'));
        assert.deepEqual(await store.listTokens('nobody', everything()), []);
      });

      for (const sortBy of ['created', 'modified'] as const) {
        it(`keyset pages by ${sortBy} concatenate to the full list without gaps or repeats`, async () => {
          const made = await seed();
          // Updates move some tokens in `modified` order only, two of them onto one value.
          const bumped = [made[2]!, made[5]!, made[9]!];
          for (const [i, t] of bumped.entries()) {
            await store.updateToken('alice', t.id, { note: `n${i}` }, T0 + (i < 2 ? 1000 : 2000));
          }
          const current = await store.listTokens('alice', everything(sortBy));
          assert.deepEqual(ids(current), expectedOrder(current, sortBy));
          for (const limit of [1, 2, 3, 5, 100]) {
            const pages = await allPages(store, 'alice', { sortBy, limit });
            assert.deepEqual(ids(pages.flat()), ids(current), `limit ${limit}`);
            assert.ok(pages.slice(0, -1).every((page) => page.length === limit));
          }
        });
      }

      it('a cursor at a deleted token still continues after its position', async () => {
        await seed();
        const full = await store.listTokens('alice', everything());
        const cut = full[4]!;
        await store.deleteToken('alice', cut.id, T0 + 1);
        const rest = await store.listTokens('alice', {
          sortBy: 'created',
          after: { sortValue: cut.created, id: cut.id },
          limit: 1000,
        });
        assert.deepEqual(ids(rest), ids(full.slice(5)));
      });

      it('filters by usage and isDefault, also across pages', async () => {
        const made = await seed();
        for (const usage of ['pk', 'sk'] as const) {
          const want = expectedOrder(
            made.filter((t) => t.usage === usage),
            'created',
          );
          assert.deepEqual(ids(await store.listTokens('alice', { ...everything(), usage })), want);
          assert.deepEqual(ids((await allPages(store, 'alice', { sortBy: 'created', limit: 2, usage })).flat()), want);
        }
        const defaults = await store.listTokens('alice', { ...everything(), isDefault: true });
        assert.deepEqual(ids(defaults), [made[0]!.id]);
        const others = await store.listTokens('alice', { ...everything(), isDefault: false });
        assert.deepEqual(ids(others), expectedOrder(made.slice(1), 'created'));
        const pkOthers = await store.listTokens('alice', { ...everything(), usage: 'pk', isDefault: false });
        assert.deepEqual(
          ids(pkOthers),
          expectedOrder(
            made.slice(1).filter((t) => t.usage === 'pk'),
            'created',
          ),
        );
      });

      it('returns at most limit tokens, the first ones in order', async () => {
        const made = await seed();
        const page = await store.listTokens('alice', { sortBy: 'created', after: null, limit: 4 });
        assert.deepEqual(ids(page), expectedOrder(made, 'created').slice(0, 4));
      });

      /** Tokens of different weights in every field storedSize counts, newest first. */
      async function seedWeighted(): Promise<TokenRecord[]> {
        await addAccount(store, 'alice', T0 - 100);
        const made: TokenRecord[] = [];
        for (let i = 0; i < 6; i++) {
          const t = makeToken('alice', {
            created: T0 + (6 - i) * 10,
            note: `地図 ${'n'.repeat(i * 37)}`,
            scopes: ['styles:read', ...(i % 2 === 0 ? ['fonts:read'] : [])],
            allowedUrls: i % 3 === 0 ? null : Array.from({ length: i }, (_, k) => `https://${k}.example/${'p'.repeat(i * 11)}`),
            allowedApplications: i === 4 ? [{ platform: 'iOS', bundleId: 'com.example.maps' }] : null,
          });
          assert.equal(await store.insertToken(t, 100), true);
          made.push(t);
        }
        return made;
      }

      const page = (maxBytes: number | undefined, limit = 100): ListQuery => ({
        sortBy: 'created',
        after: null,
        limit,
        isDefault: false,
        ...(maxBytes !== undefined && { maxBytes }),
      });

      it('with maxBytes, stops once the rows taken weigh maxBytes, then takes one row more', async () => {
        const made = await seedWeighted();
        let weight = 0;
        for (let taken = 1; taken <= made.length; taken++) {
          weight += storedSize(made[taken - 1]!);
          const more = Math.min(taken + 1, made.length);
          // Exactly reached after `taken` rows: one more, and no further.
          assert.deepEqual(ids(await store.listTokens('alice', page(weight))), ids(made.slice(0, more)), `budget ${weight}`);
          assert.deepEqual(ids(await store.listTokens('alice', page(weight - 1))), ids(made.slice(0, more)), `budget ${weight - 1}`);
          // One byte more is not reached by `taken` rows: the next row counts too.
          const further = Math.min(taken + 2, made.length);
          assert.deepEqual(ids(await store.listTokens('alice', page(weight + 1))), ids(made.slice(0, further)), `budget ${weight + 1}`);
        }
      });

      it('with maxBytes, never fewer than one row when any match, and none when none do', async () => {
        const made = await seedWeighted();
        assert.deepEqual(ids(await store.listTokens('alice', page(0))), [made[0]!.id]);
        assert.deepEqual(await store.listTokens('nobody', page(0)), []);
        assert.deepEqual(await store.listTokens('alice', { ...page(0), usage: 'sk' }), []);
      });

      it('limit still caps a page with maxBytes; without maxBytes a page of heavy tokens is exactly limit', async () => {
        await addAccount(store, 'alice', T0 - 100);
        const heavy = Array.from({ length: 5 }, (_, i) =>
          makeToken('alice', { created: T0 + i, allowedUrls: Array.from({ length: 100 }, (_, k) => `https://${k}.example/${'x'.repeat(2000)}`) }),
        );
        for (const t of heavy) assert.equal(await store.insertToken(t, 100), true);
        const order = expectedOrder(heavy, 'created');
        assert.deepEqual(ids(await store.listTokens('alice', page(undefined, 4))), order.slice(0, 4));
        assert.deepEqual(ids(await store.listTokens('alice', page(Number.MAX_SAFE_INTEGER, 3))), order.slice(0, 3));
        // One heavy token passes a 100 KB budget on its own: a page of two, cut before limit.
        assert.deepEqual(ids(await store.listTokens('alice', page(100_000, 5))), order.slice(0, 2));
      });

      it('pages cut by maxBytes still concatenate to the full list without gaps or repeats', async () => {
        const made = await seedWeighted();
        for (const maxBytes of [0, 150, 400, 1000]) {
          const pages = await allPages(store, 'alice', { sortBy: 'created', limit: 4, isDefault: false, maxBytes });
          assert.deepEqual(ids(pages.flat()), ids(made), `maxBytes ${maxBytes}`);
        }
      });
    });

    describe('updateToken', () => {
      it('applies present keys, keeps absent ones, sets modified and logs an update', async () => {
        await addAccount(store, 'alice');
        const t = makeToken('alice', { note: 'old', allowedUrls: ['https://a.example'] });
        await store.insertToken(t, 10);
        const seq = await store.latestChangeSeq();
        const updated = await store.updateToken('alice', t.id, { note: 'new' }, T0 + 50);
        const expected = { ...t, note: 'new', modified: T0 + 50 };
        assert.deepEqual(updated, expected);
        assert.deepEqual(await store.getToken('alice', t.id), expected);
        const changes = await store.changesSince(seq, 10);
        assert.equal(changes.length, 1);
        assert.deepEqual({ ...changes[0]!, seq: 0 }, { seq: 0, tokenId: t.id, kind: 'update', at: T0 + 50 });
        assert.ok(changes[0]!.seq > seq);
      });

      it('sets lists and clears restrictions with null; an empty patch still logs', async () => {
        await addAccount(store, 'alice');
        const t = makeToken('alice', { allowedUrls: ['https://a.example'] });
        await store.insertToken(t, 10);
        const apps = [{ platform: 'ios', bundleId: 'com.example' }];
        const set = await store.updateToken('alice', t.id, { scopes: ['fonts:read'], allowedApplications: apps }, T0 + 1);
        assert.deepEqual(set, { ...t, scopes: ['fonts:read'], allowedApplications: apps, modified: T0 + 1 });
        const cleared = await store.updateToken('alice', t.id, { allowedUrls: null, allowedApplications: null }, T0 + 2);
        assert.deepEqual(cleared, { ...t, scopes: ['fonts:read'], allowedUrls: null, modified: T0 + 2 });
        assert.deepEqual(await store.updateToken('alice', t.id, {}, T0 + 3), { ...cleared, modified: T0 + 3 });
        assert.deepEqual(
          (await store.changesSince(0, 10)).map((c) => c.at),
          [T0 + 1, T0 + 2, T0 + 3],
        );
      });

      it('returns null and writes nothing for another account or an unknown id', async () => {
        const alice = await addAccount(store, 'alice');
        await addAccount(store, 'bob');
        assert.equal(await store.updateToken('bob', alice.id, { note: 'stolen' }, T0 + 1), null);
        assert.equal(await store.updateToken('alice', newTokenId(), { note: 'x' }, T0 + 1), null);
        assert.deepEqual(await store.getToken('alice', alice.id), alice);
        assert.equal(await store.latestChangeSeq(), 0);
      });
    });

    describe('deleteToken', () => {
      it('deletes and logs a delete; a second delete returns false and logs nothing', async () => {
        await addAccount(store, 'alice');
        const t = makeToken('alice');
        await store.insertToken(t, 10);
        assert.equal(await store.deleteToken('alice', t.id, T0 + 9), true);
        assert.equal(await store.getToken('alice', t.id), null);
        assert.equal(await store.findTokenByHash(t.tokenHash), null);
        const changes = await store.changesSince(0, 10);
        assert.deepEqual(
          changes.map(({ tokenId, kind, at }) => ({ tokenId, kind, at })),
          [{ tokenId: t.id, kind: 'delete', at: T0 + 9 }],
        );
        assert.equal(await store.deleteToken('alice', t.id, T0 + 10), false);
        assert.equal(await store.latestChangeSeq(), changes[0]!.seq);
      });

      it('remembers the hash of deleted tokens (deletedTokenHash), and only of deleted ones', async () => {
        await addAccount(store, 'alice');
        const kept = makeToken('alice');
        const gone = makeToken('alice');
        await store.insertToken(kept, 10);
        await store.insertToken(gone, 10);
        await store.updateToken('alice', kept.id, { note: 'x' }, T0 + 1);
        await store.deleteToken('alice', gone.id, T0 + 2);
        assert.equal(await store.deletedTokenHash(gone.id), gone.tokenHash);
        assert.equal(await store.deletedTokenHash(kept.id), null);
        assert.equal(await store.deletedTokenHash('cnevermadeanythingatall00'), null);
      });

      it('lists recent deletes from a point in time (recentDeletes)', async () => {
        await addAccount(store, 'alice');
        const [a, b, c] = [makeToken('alice'), makeToken('alice'), makeToken('alice')];
        for (const t of [a, b, c]) await store.insertToken(t, 10);
        await store.deleteToken('alice', a.id, T0 + 1);
        await store.updateToken('alice', b.id, { note: 'x' }, T0 + 5);
        await store.deleteToken('alice', c.id, T0 + 10);
        assert.deepEqual(
          (await store.recentDeletes(T0 + 2)).map((d) => [d.tokenId, d.kind, d.at]),
          [[c.id, 'delete', T0 + 10]],
        );
        assert.deepEqual(
          (await store.recentDeletes(T0)).map((d) => d.tokenId),
          [a.id, c.id],
        );
      });

      it("refuses another account's token", async () => {
        const alice = await addAccount(store, 'alice');
        await addAccount(store, 'bob');
        assert.equal(await store.deleteToken('bob', alice.id, T0 + 1), false);
        assert.deepEqual(await store.findTokenById(alice.id), alice);
        assert.equal(await store.latestChangeSeq(), 0);
      });
    });

    describe('replaceDefaultToken', () => {
      it('swaps the default token and logs a delete of the old id, in one step', async () => {
        const old = await addAccount(store, 'alice');
        const other = makeToken('alice');
        await store.insertToken(other, 10);
        const replacement = makeDefaultToken('alice', { note: old.note, created: T0 + 5, modified: T0 + 5 });
        assert.equal(await store.replaceDefaultToken('alice', old.id, replacement, T0 + 5), true);
        assert.equal(await store.getToken('alice', old.id), null);
        assert.equal(await store.findTokenByHash(old.tokenHash), null);
        assert.deepEqual(await store.getToken('alice', replacement.id), replacement);
        assert.deepEqual(await store.findTokenByHash(replacement.tokenHash), replacement);
        const defaults = await store.listTokens('alice', { ...everything(), isDefault: true });
        assert.deepEqual(ids(defaults), [replacement.id]);
        const changes = await store.changesSince(0, 10);
        assert.deepEqual(
          changes.map(({ tokenId, kind, at }) => ({ tokenId, kind, at })),
          [{ tokenId: old.id, kind: 'delete', at: T0 + 5 }],
        );
        assert.equal(await store.insertToken(makeToken('alice'), 3), true, 'the swap does not grow the count');
      });

      it('refuses a non-default id, or another account, and writes nothing', async () => {
        const alice = await addAccount(store, 'alice');
        const bob = await addAccount(store, 'bob');
        const plain = makeToken('alice');
        await store.insertToken(plain, 10);
        const replacement = makeDefaultToken('alice');
        assert.equal(await store.replaceDefaultToken('alice', plain.id, replacement, T0 + 1), false);
        assert.equal(await store.replaceDefaultToken('alice', bob.id, replacement, T0 + 1), false);
        assert.equal(await store.replaceDefaultToken('alice', newTokenId(), replacement, T0 + 1), false);
        assert.equal(await store.findTokenById(replacement.id), null);
        assert.deepEqual(await store.getToken('alice', plain.id), plain);
        assert.deepEqual(await store.getToken('alice', alice.id), alice);
        assert.deepEqual(await store.getToken('bob', bob.id), bob);
        assert.equal(await store.latestChangeSeq(), 0);
      });
    });

    describe('setDefaultTokenScopes', () => {
      it('rewrites only default tokens whose scopes differ, logging each', async () => {
        const target = ['fonts:read', 'styles:read', 'tiles:read'];
        const alice = await addAccount(store, 'alice');
        const bob = makeDefaultToken('bob', { scopes: target });
        assert.equal(await store.createAccount({ username: 'bob', created: T0 }, bob), true);
        const carol = await addAccount(store, 'carol');
        const plain = makeToken('alice');
        await store.insertToken(plain, 10);
        assert.equal(await store.setDefaultTokenScopes(target, T0 + 7), 2);
        for (const [user, t] of [
          ['alice', alice],
          ['carol', carol],
        ] as const) {
          assert.deepEqual(await store.getToken(user, t.id), { ...t, scopes: target, modified: T0 + 7 });
        }
        assert.deepEqual(await store.getToken('bob', bob.id), bob);
        assert.deepEqual(await store.getToken('alice', plain.id), plain);
        const changes = await store.changesSince(0, 10);
        assert.deepEqual(changes.map((c) => c.tokenId).sort(), [alice.id, carol.id].sort());
        assert.ok(changes.every((c) => c.kind === 'update' && c.at === T0 + 7));
        assert.equal(await store.setDefaultTokenScopes(target, T0 + 8), 0);
        assert.equal((await store.changesSince(0, 10)).length, 2);
      });
    });

    describe('change log', () => {
      it('changesSince is oldest first, after the given seq, at most limit; seq only grows', async () => {
        assert.equal(await store.latestChangeSeq(), 0);
        assert.deepEqual(await store.changesSince(0, 10), []);
        await addAccount(store, 'alice');
        const made = [makeToken('alice'), makeToken('alice'), makeToken('alice')];
        for (const t of made) await store.insertToken(t, 10);
        await store.updateToken('alice', made[0]!.id, { note: 'a' }, T0 + 1);
        await store.deleteToken('alice', made[1]!.id, T0 + 2);
        await store.updateToken('alice', made[2]!.id, { note: 'c' }, T0 + 3);
        await store.deleteToken('alice', made[0]!.id, T0 + 4);
        const all = await store.changesSince(0, 100);
        assert.deepEqual(
          all.map(({ tokenId, kind }) => [tokenId, kind]),
          [
            [made[0]!.id, 'update'],
            [made[1]!.id, 'delete'],
            [made[2]!.id, 'update'],
            [made[0]!.id, 'delete'],
          ],
        );
        assert.ok(all.every((c, i) => i === 0 || c.seq > all[i - 1]!.seq));
        assert.equal(await store.latestChangeSeq(), all[3]!.seq);
        assert.deepEqual(await store.changesSince(0, 2), all.slice(0, 2));
        assert.deepEqual(await store.changesSince(all[1]!.seq, 100), all.slice(2));
        assert.deepEqual(await store.changesSince(all[1]!.seq, 1), all.slice(2, 3));
        assert.deepEqual(await store.changesSince(all[3]!.seq, 100), []);
      });

      it('pruneChanges removes entries older than the cut, never the newest; seq keeps growing', async () => {
        await addAccount(store, 'alice');
        const made = [makeToken('alice'), makeToken('alice'), makeToken('alice')];
        for (const t of made) await store.insertToken(t, 10);
        await store.deleteToken('alice', made[0]!.id, T0 + 1);
        await store.updateToken('alice', made[1]!.id, { note: 'b' }, T0 + 2);
        await store.deleteToken('alice', made[2]!.id, T0 + 3);
        const before = await store.changesSince(0, 100);
        assert.equal(await store.pruneChanges(T0 + 2), 1);
        assert.deepEqual(await store.changesSince(0, 100), before.slice(1));
        assert.equal(await store.deletedTokenHash(made[0]!.id), null, 'a pruned delete is forgotten');
        assert.equal(await store.deletedTokenHash(made[2]!.id), made[2]!.tokenHash);
        // A cut past everything keeps the newest entry: a starting follower's seq never goes back.
        assert.equal(await store.pruneChanges(T0 + 1_000), 1);
        assert.deepEqual(await store.changesSince(0, 100), before.slice(2));
        assert.equal(await store.latestChangeSeq(), before[2]!.seq);
        assert.equal(await store.pruneChanges(T0 + 1_000), 0);
        await store.deleteToken('alice', made[1]!.id, T0 + 4);
        const [next] = await store.changesSince(before[2]!.seq, 10);
        assert.ok(next !== undefined && next.seq > before[2]!.seq && next.tokenId === made[1]!.id);
      });

      it('runExclusive runs the job (on one node at a time) and says so', async () => {
        let ran = 0;
        assert.equal(
          await store.runExclusive('contract-job', async () => {
            ran += 1;
          }),
          true,
        );
        assert.equal(ran, 1);
        await assert.rejects(
          store.runExclusive('contract-job', async () => {
            throw new Error('job failed');
          }),
          /job failed/,
        );
        // A failed job releases whatever it held: the next run runs.
        assert.equal(
          await store.runExclusive('contract-job', async () => {
            ran += 1;
          }),
          true,
        );
        assert.equal(ran, 2);
      });
    });

    describe('usage', () => {
      const D0 = utcDay(T0);
      const D1 = D0 + DAY_MS;
      const D2 = D0 + 2 * DAY_MS;

      it('addUsage adds counts per token and day, across calls and within a batch; usageByDay is that token, oldest first', async () => {
        const alice = await addAccount(store, 'alice');
        const bob = await addAccount(store, 'bob');
        await store.addUsage([
          { tokenId: alice.id, day: D1, count: 3, lastUsed: D1 + 10 },
          { tokenId: alice.id, day: D0, count: 2, lastUsed: D0 + 10 },
          { tokenId: bob.id, day: D1, count: 7, lastUsed: D1 + 20 },
          { tokenId: alice.id, day: D1, count: 4, lastUsed: D1 + 5 },
        ]);
        await store.addUsage([{ tokenId: alice.id, day: D1, count: 1, lastUsed: D1 + 30 }]);
        assert.deepEqual(await store.usageByDay(alice.id, D0, D2), [
          { day: D0, count: 2 },
          { day: D1, count: 8 },
        ]);
        assert.deepEqual(await store.usageByDay(bob.id, D0, D2), [{ day: D1, count: 7 }]);
      });

      it('usageByDay takes both ends inclusive and nothing outside them', async () => {
        const alice = await addAccount(store, 'alice');
        await store.addUsage([D0, D1, D2].map((day, i) => ({ tokenId: alice.id, day, count: i + 1, lastUsed: day })));
        assert.deepEqual(await store.usageByDay(alice.id, D1, D1), [{ day: D1, count: 2 }]);
        assert.deepEqual(await store.usageByDay(alice.id, D1, D2), [
          { day: D1, count: 2 },
          { day: D2, count: 3 },
        ]);
        assert.deepEqual(await store.usageByDay(alice.id, D2 + DAY_MS, D2 + 5 * DAY_MS), []);
        assert.deepEqual(await store.usageByDay('cunknown0000000000000000000', D0, D2), []);
      });

      it('lastUsed only rises; usage is no change: no change-log entry, modified and the rest untouched', async () => {
        const alice = await addAccount(store, 'alice');
        const seq = await store.latestChangeSeq();
        await store.addUsage([{ tokenId: alice.id, day: D1, count: 1, lastUsed: D1 + 500 }]);
        assert.equal((await store.getToken('alice', alice.id))?.lastUsed, D1 + 500);
        await store.addUsage([{ tokenId: alice.id, day: D1, count: 1, lastUsed: D1 + 100 }]);
        const after = await store.getToken('alice', alice.id);
        assert.equal(after?.lastUsed, D1 + 500, 'an earlier lastUsed never lowers it');
        assert.deepEqual({ ...after, lastUsed: null }, alice, 'nothing but lastUsed changed');
        await store.addUsage([{ tokenId: alice.id, day: D2, count: 1, lastUsed: D2 + 1 }]);
        assert.equal((await store.findTokenByHash(alice.tokenHash))?.lastUsed, D2 + 1);
        assert.equal(await store.latestChangeSeq(), seq);
        assert.deepEqual(await store.changesSince(seq, 10), []);
      });

      it('a batch is all or nothing: one bad row (a day that is no UTC day start, a count of 0) writes none of it', async () => {
        const alice = await addAccount(store, 'alice');
        for (const bad of [
          { tokenId: alice.id, day: D1 + 1, count: 1, lastUsed: D1 },
          { tokenId: alice.id, day: D1, count: 0, lastUsed: D1 },
          { tokenId: alice.id, day: D1, count: 1.5, lastUsed: D1 },
        ]) {
          await assert.rejects(store.addUsage([{ tokenId: alice.id, day: D0, count: 5, lastUsed: D0 + 9 }, bad]), TypeError);
        }
        assert.deepEqual(await store.usageByDay(alice.id, D0, D2), []);
        assert.equal((await store.getToken('alice', alice.id))?.lastUsed, null);
      });

      it("a deleted token's usage is dropped: its rows go with it, and a later flush naming it writes nothing else", async () => {
        const alice = await addAccount(store, 'alice');
        const gone = makeToken('alice');
        await store.insertToken(gone, 10);
        await store.addUsage([{ tokenId: gone.id, day: D0, count: 4, lastUsed: D0 }]);
        assert.equal(await store.deleteToken('alice', gone.id, T0 + 1), true);
        assert.deepEqual(await store.usageByDay(gone.id, D0, D2), []);
        await store.addUsage([
          { tokenId: gone.id, day: D1, count: 2, lastUsed: D1 },
          { tokenId: alice.id, day: D1, count: 3, lastUsed: D1 + 7 },
          { tokenId: 'cnever000000000000000000000', day: D1, count: 1, lastUsed: D1 },
        ]);
        assert.deepEqual(await store.usageByDay(gone.id, D0, D2), []);
        assert.deepEqual(await store.usageByDay(alice.id, D0, D2), [{ day: D1, count: 3 }]);
        assert.equal((await store.getToken('alice', alice.id))?.lastUsed, D1 + 7);
        assert.equal(await store.findTokenById(gone.id), null);
      });

      it("a refreshed default token's usage goes with the old id; the new one starts empty", async () => {
        const old = await addAccount(store, 'alice');
        await store.addUsage([{ tokenId: old.id, day: D0, count: 4, lastUsed: D0 }]);
        const next = makeDefaultToken('alice');
        assert.equal(await store.replaceDefaultToken('alice', old.id, next, T0 + 1), true);
        assert.deepEqual(await store.usageByDay(old.id, D0, D2), []);
        assert.deepEqual(await store.usageByDay(next.id, D0, D2), []);
        assert.equal((await store.getToken('alice', next.id))?.lastUsed, null);
      });

      it('an empty batch writes nothing and resolves', async () => {
        await addAccount(store, 'alice');
        await store.addUsage([]);
        assert.equal(await store.latestChangeSeq(), 0);
      });
    });

    describe('the page: passwords, sessions, idempotency keys', () => {
      const session = (idHash: string, username = 'alice', expires = T0 + 1_000) => ({ idHash, username, created: T0, expires });
      const once = (key: string, requestHash = 'hash-1') => ({ key, requestHash, sealedResponse: `sealed:${key}`, created: T0 });

      it('an account has no password until one is set; createAccount may set it in the same step', async () => {
        await addAccount(store, 'alice');
        assert.equal(await store.getPasswordHash('alice'), null);
        assert.equal(await store.createAccount({ username: 'bob', created: T0 }, makeDefaultToken('bob'), '$argon2id$bob'), true);
        assert.equal(await store.getPasswordHash('bob'), '$argon2id$bob');
        assert.equal(await store.getPasswordHash('nobody'), null);
      });

      it("setPasswordHash ends every session of that account, and only that account's", async () => {
        await addAccount(store, 'alice');
        await addAccount(store, 'bob');
        assert.equal(await store.createSession(session('a1')), true);
        assert.equal(await store.createSession(session('a2')), true);
        assert.equal(await store.createSession(session('b1', 'bob')), true);
        assert.equal(await store.setPasswordHash('alice', '$argon2id$new'), true);
        assert.equal(await store.getPasswordHash('alice'), '$argon2id$new');
        assert.equal(await store.findSession('a1', T0), null);
        assert.equal(await store.findSession('a2', T0), null);
        assert.deepEqual(await store.findSession('b1', T0), session('b1', 'bob'));
        assert.equal(await store.setPasswordHash('nobody', '$argon2id$x'), false);
      });

      it('findSession answers a live session only: expires is exclusive', async () => {
        await addAccount(store, 'alice');
        await store.createSession(session('s1', 'alice', T0 + 100));
        assert.deepEqual(await store.findSession('s1', T0 + 99), session('s1', 'alice', T0 + 100));
        assert.equal(await store.findSession('s1', T0 + 100), null);
        assert.equal(await store.findSession('unknown', T0), null);
      });

      it('createSession refuses a missing account; deleteSession ends one and tolerates a gone one', async () => {
        assert.equal(await store.createSession(session('s1', 'nobody')), false);
        await addAccount(store, 'alice');
        await store.createSession(session('s1'));
        await store.deleteSession('s1');
        await store.deleteSession('s1');
        assert.equal(await store.findSession('s1', T0), null);
      });

      it('insertTokenOnce inserts and records once; a repeat of the key replays the record and writes nothing', async () => {
        await addAccount(store, 'alice');
        const first = makeToken('alice');
        assert.deepEqual(await store.insertTokenOnce(first, 10, once('k1')), { kind: 'inserted' });
        const second = makeToken('alice');
        const again = await store.insertTokenOnce(second, 10, once('k1', 'hash-2'));
        assert.deepEqual(again, { kind: 'replay', record: once('k1') });
        assert.equal(await store.findTokenById(second.id), null);
        // The key is per account: bob may use it too.
        await addAccount(store, 'bob');
        assert.deepEqual(await store.insertTokenOnce(makeToken('bob'), 10, once('k1')), { kind: 'inserted' });
      });

      it('insertTokenOnce on a full account records nothing, so a retry after a delete inserts', async () => {
        const alice = await addAccount(store, 'alice');
        assert.deepEqual(await store.insertTokenOnce(makeToken('alice'), 1, once('k1')), { kind: 'full' });
        await store.deleteToken('alice', alice.id, T0 + 1);
        assert.deepEqual(await store.insertTokenOnce(makeToken('alice'), 1, once('k1')), { kind: 'inserted' });
      });

      it('concurrent insertTokenOnce calls with one key insert exactly one token', async () => {
        await addAccount(store, 'alice');
        const tokens = Array.from({ length: 8 }, () => makeToken('alice'));
        const results = await Promise.all(tokens.map((t) => store.insertTokenOnce(t, 100, once('same'))));
        assert.equal(results.filter((r) => r.kind === 'inserted').length, 1);
        assert.equal(results.filter((r) => r.kind === 'replay').length, 7);
        assert.equal((await store.listTokens('alice', everything())).length, 2);
      });

      it('pruneExpired removes ended sessions and old idempotency records, and nothing else', async () => {
        await addAccount(store, 'alice');
        await store.createSession(session('old', 'alice', T0 + 10));
        await store.createSession(session('live', 'alice', T0 + 1_000));
        await store.insertTokenOnce(makeToken('alice'), 10, { ...once('old'), created: T0 });
        await store.insertTokenOnce(makeToken('alice'), 10, { ...once('new'), created: T0 + 500 });
        assert.deepEqual(await store.pruneExpired(T0 + 10, T0 + 500), { sessions: 1, idempotencyKeys: 1 });
        assert.equal(await store.findSession('old', T0), null);
        assert.notEqual(await store.findSession('live', T0), null);
        // 'old' is forgotten (a new insert), 'new' still replays.
        assert.equal((await store.insertTokenOnce(makeToken('alice'), 10, once('old'))).kind, 'inserted');
        assert.equal((await store.insertTokenOnce(makeToken('alice'), 10, once('new'))).kind, 'replay');
        assert.deepEqual(await store.pruneExpired(T0 + 10, T0), { sessions: 0, idempotencyKeys: 0 });
      });
    });

    describe('account lifecycle: disable, enable, delete', () => {
      it("disabling hides the account's tokens from the verification reads, its password and sessions; enabling restores them", async () => {
        const alice = await addAccount(store, 'alice');
        const sk = makeToken('alice', { usage: 'sk' });
        await store.insertToken(sk, 10);
        await store.setPasswordHash('alice', '$argon2id$a');
        await store.createSession({ idHash: 's1', username: 'alice', created: T0, expires: T0 + 1_000 });
        const bob = await addAccount(store, 'bob');
        const seq = await store.latestChangeSeq();
        assert.equal(await store.setAccountDisabled('alice', true, T0 + 5), true);
        assert.equal(await store.findTokenByHash(alice.tokenHash), null);
        assert.equal(await store.findTokenById(sk.id), null);
        assert.equal(await store.getPasswordHash('alice'), null);
        assert.equal(await store.findSession('s1', T0), null);
        assert.equal((await store.getAccountOverview('alice'))?.disabled, true);
        // An update change per token, so every follower drops them.
        const changes = await store.changesSince(seq, 10);
        assert.deepEqual(
          changes.map((c) => [c.tokenId, c.kind, c.at]).sort(),
          [alice.id, sk.id].sort().map((id) => [id, 'update', T0 + 5]),
        );
        // Nothing else of the account or others is touched.
        assert.deepEqual(await store.getToken('alice', sk.id), sk);
        assert.deepEqual(await store.findTokenByHash(bob.tokenHash), bob);
        // The same state again writes nothing.
        assert.equal(await store.setAccountDisabled('alice', true, T0 + 6), true);
        assert.equal(await store.latestChangeSeq(), changes.at(-1)?.seq);
        assert.equal(await store.setAccountDisabled('alice', false, T0 + 7), true);
        assert.deepEqual(await store.findTokenByHash(alice.tokenHash), alice);
        assert.deepEqual(await store.findTokenById(sk.id), sk);
        assert.equal(await store.getPasswordHash('alice'), '$argon2id$a');
        assert.notEqual(await store.findSession('s1', T0), null);
        assert.equal((await store.getAccountOverview('alice'))?.disabled, false);
        assert.equal((await store.changesSince(seq, 10)).length, 4);
        assert.equal(await store.setAccountDisabled('nobody', true, T0), false);
      });

      it('deleteAccount removes the account and everything of it in one step, each token with its delete change', async () => {
        const alice = await addAccount(store, 'alice');
        const sk = makeToken('alice', { usage: 'sk' });
        await store.insertToken(sk, 10);
        await store.createSession({ idHash: 's1', username: 'alice', created: T0, expires: T0 + 1_000 });
        await store.insertTokenOnce(makeToken('alice'), 10, { key: 'k', requestHash: 'h', sealedResponse: 's', created: T0 });
        await store.addUsage([{ tokenId: sk.id, day: utcDay(T0), count: 3, lastUsed: T0 }]);
        const bob = await addAccount(store, 'bob');
        const seq = await store.latestChangeSeq();
        assert.equal(await store.deleteAccount('alice', T0 + 9), true);
        assert.equal(await store.getAccount('alice'), null);
        assert.equal(await store.findTokenById(sk.id), null);
        assert.equal(await store.findSession('s1', T0), null);
        assert.deepEqual(await store.usageByDay(sk.id, 0, T0 + DAY_MS), []);
        assert.equal(await store.deletedTokenHash(sk.id), sk.tokenHash);
        assert.equal(await store.deletedTokenHash(alice.id), alice.tokenHash);
        const deletes = (await store.changesSince(seq, 10)).filter((c) => c.kind === 'delete').map((c) => c.tokenId);
        assert.equal(deletes.length, 3);
        assert.ok(deletes.includes(sk.id) && deletes.includes(alice.id));
        assert.deepEqual(await store.findTokenByHash(bob.tokenHash), bob);
        // The username may be reused, with nothing of the old account (no session, no key).
        const again = await addAccount(store, 'alice', T0 + 10);
        assert.deepEqual(ids(await store.listTokens('alice', everything())), [again.id]);
        assert.equal((await store.insertTokenOnce(makeToken('alice'), 10, { key: 'k', requestHash: 'h', sealedResponse: 's', created: T0 })).kind, 'inserted');
        assert.equal(await store.deleteAccount('nobody', T0), false);
      });
    });

    describe('signing keys', () => {
      it("addSigningKey retires every unretired key at the new key's created; newest first", async () => {
        assert.deepEqual(await store.listSigningKeys(), []);
        const k1 = { id: 'k1', sealedKey: 'sealed-1', created: T0, retired: null };
        const k2 = { id: 'k2', sealedKey: 'sealed-2', created: T0 + 100, retired: null };
        const k3 = { id: 'k3', sealedKey: 'sealed-3', created: T0 + 200, retired: null };
        await store.addSigningKey(k1);
        assert.deepEqual(await store.listSigningKeys(), [k1]);
        await store.addSigningKey(k2);
        assert.deepEqual(await store.listSigningKeys(), [k2, { ...k1, retired: k2.created }]);
        await store.addSigningKey(k3);
        const keys = await store.listSigningKeys();
        assert.deepEqual(keys, [k3, { ...k2, retired: k3.created }, { ...k1, retired: k2.created }]);
        assert.equal(keys.filter((k) => k.retired === null).length, 1);
      });

      it('addSigningKey appends a key change in the same step, in seq order with token changes', async () => {
        const alice = await addAccount(store, 'alice');
        await store.updateToken('alice', alice.id, { note: 'a' }, T0 + 1);
        const before = await store.latestChangeSeq();
        await store.addSigningKey({ id: 'k1', sealedKey: 'sealed-1', created: T0 + 2, retired: null });
        await store.deleteToken('alice', alice.id, T0 + 3);
        const changes = await store.changesSince(before, 10);
        assert.deepEqual(
          changes.map(({ tokenId, kind, at }) => ({ tokenId, kind, at })),
          [
            { tokenId: 'k1', kind: 'key', at: T0 + 2 },
            { tokenId: alice.id, kind: 'delete', at: T0 + 3 },
          ],
        );
        assert.ok(changes[0]!.seq > before && changes[1]!.seq > changes[0]!.seq);
        assert.equal(await store.latestChangeSeq(), changes[1]!.seq);
      });

      it('a key change is no delete: recentDeletes and deletedTokenHash ignore it', async () => {
        await store.addSigningKey({ id: 'k1', sealedKey: 'sealed-1', created: T0, retired: null });
        assert.deepEqual(await store.recentDeletes(0), []);
        assert.equal(await store.deletedTokenHash('k1'), null);
        assert.equal((await store.changesSince(0, 10)).length, 1);
      });

      it('a refused addSigningKey (duplicate id) writes nothing: no key retired, no change', async () => {
        const k1 = { id: 'k1', sealedKey: 'sealed-1', created: T0, retired: null };
        await store.addSigningKey(k1);
        const seq = await store.latestChangeSeq();
        await assert.rejects(store.addSigningKey({ id: 'k1', sealedKey: 'other', created: T0 + 100, retired: null }));
        assert.deepEqual(await store.listSigningKeys(), [k1]);
        assert.equal(await store.latestChangeSeq(), seq);
        assert.deepEqual(await store.changesSince(seq, 10), []);
      });
    });

    describe('audit log', () => {
      const entry = (action: AuditAction, fields: Partial<AuditEntryInput> = {}): AuditEntryInput => ({
        at: T0,
        actor: { kind: 'cli', id: null },
        account: 'alice',
        action,
        target: null,
        ip: null,
        ...fields,
      });
      const actions = async (): Promise<string[]> => (await store.listAudit({ limit: 100 })).map((e) => e.action).reverse();

      it('each write method writes its entry with its change', async () => {
        const alice = makeDefaultToken('alice');
        assert.equal(
          await store.createAccount({ username: 'alice', created: T0 }, alice, '$argon2id$h', [entry('account.create'), entry('account.password')]),
          true,
        );
        const sk = makeToken('alice', { usage: 'sk', scopes: ['styles:read', 'tokens:read'] });
        assert.equal(await store.insertToken(sk, 100, entry('token.create', { target: sk.id })), true);
        const once = makeToken('alice');
        const onceRecord = { key: 'k', requestHash: 'h', sealedResponse: 's', created: T0 };
        assert.equal((await store.insertTokenOnce(once, 100, onceRecord, entry('token.create', { target: once.id }))).kind, 'inserted');
        await store.updateToken('alice', sk.id, { scopes: ['styles:read'], note: 'n' }, T0 + 1, entry('token.update', { target: sk.id }));
        assert.equal(await store.deleteToken('alice', once.id, T0 + 2, entry('token.delete', { target: once.id })), true);
        assert.equal(await store.replaceDefaultToken('alice', alice.id, makeDefaultToken('alice'), T0 + 3, entry('token.refresh', { target: alice.id })), true);
        assert.equal(await store.setAccountDisabled('alice', true, T0 + 4, entry('account.disable')), true);
        assert.equal(await store.setAccountDisabled('alice', false, T0 + 5, entry('account.enable')), true);
        assert.equal(await store.setPasswordHash('alice', '$argon2id$other', entry('account.password')), true);
        assert.equal(await store.createSession({ idHash: 's1', username: 'alice', created: T0, expires: T0 + 10 }, entry('session.sign_in')), true);
        await store.deleteSession('s1', entry('session.sign_out'));
        await store.appendAudit(entry('session.sign_in_failed'));
        await store.insertAdminKey({ id: 'a1', note: '', keyHash: 'h1', created: T0 }, entry('admin_key.create', { account: null, target: 'a1' }));
        assert.equal(await store.deleteAdminKey('a1', entry('admin_key.delete', { account: null, target: 'a1' })), true);
        await store.addSigningKey({ id: 'k1', sealedKey: 's', created: T0, retired: null }, entry('key.rotate', { account: null, target: 'k1' }));
        assert.equal(await store.deleteAccount('alice', T0 + 6, entry('account.delete')), true);
        assert.deepEqual(await actions(), [
          'account.create',
          'account.password',
          'token.create',
          'token.create',
          'token.update',
          'token.delete',
          'token.refresh',
          'account.disable',
          'account.enable',
          'account.password',
          'session.sign_in',
          'session.sign_out',
          'session.sign_in_failed',
          'admin_key.create',
          'admin_key.delete',
          'key.rotate',
          'account.delete',
        ]);
        const [update] = await store.listAudit({ limit: 1, action: 'token.update' });
        assert.deepEqual(update?.details, {
          changes: { fields: ['note', 'scopes'], scopesBefore: ['styles:read', 'tokens:read'], scopesAfter: ['styles:read'] },
        });
        assert.deepEqual(update?.actor, { kind: 'cli', id: null });
        assert.equal(update?.target, sk.id);
      });

      it('a refused or no-op call writes no entry', async () => {
        const alice = await addAccount(store, 'alice');
        assert.equal(await store.createAccount({ username: 'alice', created: T0 }, makeDefaultToken('alice'), null, [entry('account.create')]), false);
        assert.equal(await store.insertToken(makeToken('alice'), 1, entry('token.create')), false);
        const once = { key: 'k', requestHash: 'h', sealedResponse: 's', created: T0 };
        assert.equal((await store.insertTokenOnce(makeToken('alice'), 1, once, entry('token.create'))).kind, 'full');
        assert.equal(await store.updateToken('alice', newTokenId(), { note: 'x' }, T0, entry('token.update')), null);
        assert.equal(await store.updateToken('bob', alice.id, { note: 'x' }, T0, entry('token.update')), null);
        assert.equal(await store.deleteToken('alice', newTokenId(), T0, entry('token.delete')), false);
        assert.equal(await store.replaceDefaultToken('alice', newTokenId(), makeDefaultToken('alice'), T0, entry('token.refresh')), false);
        assert.equal(await store.setAccountDisabled('alice', false, T0, entry('account.enable')), true, 'already enabled: a no-op');
        assert.equal(await store.setAccountDisabled('bob', true, T0, entry('account.disable')), false);
        assert.equal(await store.deleteAccount('bob', T0, entry('account.delete')), false);
        assert.equal(await store.setPasswordHash('bob', 'h', entry('account.password')), false);
        assert.equal(await store.createSession({ idHash: 's', username: 'bob', created: T0, expires: T0 + 1 }, entry('session.sign_in')), false);
        await store.deleteSession('gone', entry('session.sign_out'));
        assert.equal(await store.deleteAdminKey('none', entry('admin_key.delete')), false);
        await store.insertAdminKey({ id: 'a1', note: '', keyHash: 'h1', created: T0 });
        await assert.rejects(store.insertAdminKey({ id: 'a1', note: '', keyHash: 'h2', created: T0 }, entry('admin_key.create')));
        await store.addSigningKey({ id: 'k1', sealedKey: 's', created: T0, retired: null });
        await assert.rejects(store.addSigningKey({ id: 'k1', sealedKey: 's', created: T0, retired: null }, entry('key.rotate')));
        // A write that fails on a constraint (a duplicate token hash) takes its entry with it.
        await assert.rejects(store.insertToken(makeToken('alice', { tokenHash: alice.tokenHash }), 100, entry('token.create')));
        assert.deepEqual(await actions(), []);
      });

      it('listAudit pages newest first by a keyset cursor, filtered by account and action', async () => {
        await addAccount(store, 'alice');
        await addAccount(store, 'bob');
        for (let i = 0; i < 5; i += 1) {
          await store.appendAudit(entry('session.sign_in_failed', { account: i % 2 === 0 ? 'alice' : 'bob', at: T0 + i }));
          await store.appendAudit(entry('account.password', { account: 'alice', at: T0 + i }));
        }
        const all = await store.listAudit({ limit: 100 });
        assert.equal(all.length, 10);
        assert.ok(
          all.every((e, i) => i === 0 || e.id < all[i - 1]!.id),
          'newest first',
        );
        const firstPage = await store.listAudit({ limit: 4 });
        const secondPage = await store.listAudit({ limit: 4, before: firstPage.at(-1)!.id });
        assert.deepEqual([...firstPage, ...secondPage], all.slice(0, 8));
        const alices = await store.listAudit({ limit: 100, account: 'alice' });
        assert.equal(alices.length, 8);
        const failed = await store.listAudit({ limit: 100, account: 'alice', action: 'session.sign_in_failed' });
        assert.deepEqual(
          failed.map((e) => e.at),
          [T0 + 4, T0 + 2, T0],
        );
        assert.deepEqual(await store.listAudit({ limit: 0 }), []);
      });

      it('pruneAudit removes entries older than the cut and keeps the rest', async () => {
        for (let i = 0; i < 6; i += 1) await store.appendAudit(entry('session.sign_in_failed', { at: T0 + i }));
        assert.equal(await store.pruneAudit(T0 + 4), 4);
        assert.deepEqual(
          (await store.listAudit({ limit: 10 })).map((e) => e.at),
          [T0 + 5, T0 + 4],
        );
        assert.equal(await store.pruneAudit(T0 + 4), 0);
      });

      it('entries survive the account they name, and keep their fields', async () => {
        await addAccount(store, 'alice');
        await store.appendAudit(entry('session.sign_in_failed', { actor: { kind: 'web', id: null }, ip: '10.0.0.1', details: { note: 'x' } }));
        await store.deleteAccount('alice', T0, entry('account.delete', { actor: { kind: 'admin', id: 'key1' }, ip: '::1' }));
        const [deleted, failed] = await store.listAudit({ limit: 10, account: 'alice' });
        assert.deepEqual(
          { ...deleted, id: 0 },
          { id: 0, at: T0, actor: { kind: 'admin', id: 'key1' }, account: 'alice', action: 'account.delete', target: null, ip: '::1', details: null },
        );
        assert.deepEqual(failed?.details, { note: 'x' });
        assert.equal(failed?.ip, '10.0.0.1');
      });
    });
  });
}
