/**
 * The change follower's failure path and key rotations (SPEC §7): a follower that cannot read the
 * log says so once per failing streak, shows it in its status (and so on /health), keeps its
 * place, and catches up when the store answers again. The store is a real memory store behind a
 * switch that makes reads fail, as a store that went away does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openTokenbox } from '../src/main.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import type { Store, TokenChange } from '../src/store/port.js';
import { ChangeFollower, START_OVER_AFTER_MS, type ChangeListener } from '../src/verification/change-follower.js';
import { TokenDirectory } from '../src/verification/token-directory.js';
import { makeDefaultToken, makeToken } from './store-contract.js';
import { CHANGE_RETENTION_MS } from '../src/domain/policy.js';
import { startTestApp, testClock, testConfig } from './helpers/app.js';

function flakyStore(): { store: Store; down: (isDown: boolean) => void } {
  const inner = new MemoryStore();
  let isDown = false;
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (name !== 'changesSince' || typeof value !== 'function')
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return (...args: unknown[]) => (isDown ? Promise.reject(new Error('store unreachable')) : (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
  return { store, down: (value) => (isDown = value) };
}

function recorder(): ChangeListener & { changes: TokenChange[] } {
  const changes: TokenChange[] = [];
  return { changes, applyChange: (c) => changes.push(c), loadTombstones: () => undefined, forgetAll: () => undefined };
}

describe('change follower', () => {
  it('reports a failing streak once, shows it in status, and catches up without missing a change', async () => {
    const { store, down } = flakyStore();
    const clock = testClock();
    const listener = recorder();
    const follower = new ChangeFollower(store, clock, listener, 3_600_000);
    const events: string[] = [];
    follower.onHealthChange(
      (error) => events.push(`failed: ${(error as Error).message}`),
      () => events.push('recovered'),
    );
    await store.createAccount({ username: 'alice', created: clock() }, makeDefaultToken('alice'));
    const token = makeToken('alice');
    await store.insertToken(token, 100);
    await follower.start(0);

    down(true);
    await store.deleteToken('alice', token.id, clock());
    await follower.wake();
    clock.advance(2_000);
    await follower.wake();
    assert.deepEqual(events, ['failed: store unreachable'], 'once per streak, not once per poll');
    assert.equal(follower.status().failing, true);
    assert.equal(follower.status().lagMs, 2_000, 'the lag grows while the log cannot be read');
    assert.equal(listener.changes.length, 0);

    down(false);
    await follower.wake();
    assert.deepEqual(events, ['failed: store unreachable', 'recovered']);
    assert.deepEqual(
      listener.changes.map((c) => [c.tokenId, c.kind]),
      [[token.id, 'delete']],
      'the delete made while failing is applied',
    );
    assert.deepEqual(follower.status(), { seq: listener.changes[0]!.seq, lagMs: 0, failing: false });
  });

  it('after a gap long enough for the log to be pruned, the cache starts over: a delete whose entry was pruned is still seen', async () => {
    const { store, down } = flakyStore();
    const clock = testClock();
    const directory = new TokenDirectory(store, clock, 100);
    await store.createAccount({ username: 'alice', created: clock() }, makeDefaultToken('alice'));
    const [gone, kept, other] = [makeToken('alice'), makeToken('alice'), makeToken('alice')];
    for (const t of [gone, kept, other]) await store.insertToken(t, 100);
    await directory.follower.start(0);
    assert.notEqual(await directory.load(gone.tokenHash, gone.id), null);
    assert.notEqual(await directory.load(kept.tokenHash, kept.id), null);

    // A short outage: what was cached stays cached (no needless start-over).
    down(true);
    await directory.follower.wake();
    clock.advance(60_000);
    down(false);
    await directory.follower.wake();
    assert.notEqual(directory.cached(kept.tokenHash), undefined);

    // A long one: the delete is written and then pruned while this follower cannot read.
    down(true);
    await store.deleteToken('alice', gone.id, clock());
    clock.advance(START_OVER_AFTER_MS + 1);
    await store.updateToken('alice', other.id, { note: 'newest' }, clock());
    assert.equal(await store.pruneChanges(clock()), 1, 'the delete entry is pruned; the newest stays');
    await directory.follower.wake();
    down(false);
    await directory.follower.wake();
    assert.equal(directory.cached(gone.tokenHash), undefined, 'the deleted token is no longer cached');
    assert.equal(await directory.load(gone.tokenHash, gone.id), null, 'and a read finds it gone');
    assert.equal(directory.follower.status().failing, false);
  });

  it('a key change reloads through onKeyRotation and is not handed to the token listener; a failed reload is read again', async () => {
    const store = new MemoryStore();
    const clock = testClock();
    const listener = recorder();
    const follower = new ChangeFollower(store, clock, listener, 3_600_000);
    let reloads = 0;
    let failNext = true;
    follower.onKeyRotation(async () => {
      reloads++;
      if (failNext) {
        failNext = false;
        throw new Error('cannot open the new key yet');
      }
    });
    await follower.start(0);
    await store.addSigningKey({ id: 'c000000000000000000000001', sealedKey: 'sealed', created: clock(), retired: null });
    await assert.rejects(follower.poll(), /cannot open/);
    const seqBefore = follower.seenSeq;
    await follower.poll();
    assert.equal(reloads, 2, 'the key change is read again after a failed reload');
    assert.ok(follower.seenSeq > seqBefore);
    assert.equal(listener.changes.length, 0);
  });
});

describe('the cache-fill race (SPEC §7)', () => {
  it('a read that began before a change and ends after it is used once but not cached', async () => {
    const inner = new MemoryStore();
    let release: (() => void) | null = null;
    let gate: Promise<void> | null = null;
    // The real store, with its hash read held at a gate the test opens.
    const store = new Proxy(inner, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (name !== 'findTokenByHash') return (value as (...a: unknown[]) => unknown).bind(target);
        return async (...args: unknown[]) => {
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (gate !== null) await gate;
          return result;
        };
      },
    });
    const clock = testClock();
    const directory = new TokenDirectory(store, clock, 100);
    await store.createAccount({ username: 'alice', created: clock() }, makeDefaultToken('alice'));
    const token = makeToken('alice', { scopes: ['styles:read', 'map:read'] });
    await store.insertToken(token, 100);
    await directory.follower.start(0);

    gate = new Promise((resolve) => (release = resolve));
    const reading = directory.load(token.tokenHash, token.id);
    // While the read is in flight, the token is narrowed and the change applied here.
    await store.updateToken('alice', token.id, { scopes: ['styles:read'] }, clock());
    await directory.follower.poll();
    release!();
    const entry = await reading;
    assert.deepEqual(entry?.record.scopes, ['styles:read', 'map:read'], 'the read saw the old record');
    assert.equal(directory.cached(token.tokenHash), undefined, 'and it was not cached');
    const fresh = await directory.load(token.tokenHash, token.id);
    assert.deepEqual(fresh?.record.scopes, ['styles:read']);
    assert.equal(directory.cached(token.tokenHash), fresh, 'a read after the change is cached');
  });
});

describe('a store that pushes (watchChanges)', () => {
  it('wakes the follower at once: a delete elsewhere is refused with no poll timer running', async () => {
    const listeners = new Set<() => void>();
    class PushingStore extends MemoryStore {
      watchChanges(onChange: () => void): () => void {
        listeners.add(onChange);
        return () => listeners.delete(onChange);
      }
    }
    const store = new PushingStore();
    const app = await openTokenbox(testConfig(mkdtempSync(join(tmpdir(), 'tokenbox-push-'))), { store, changePollMs: 0 });
    try {
      const { defaultPublicToken } = await app.accounts.create('alice');
      const pk = defaultPublicToken.token as string;
      assert.equal((await app.verifier.verify(pk)).ok, true);
      // Another process deletes it: straight in the store, as a second node would.
      const replacement = app.tokens.newDefaultRecord('alice', 'Default Public Token', 'cli', Date.now());
      await store.replaceDefaultToken('alice', defaultPublicToken.id, replacement, Date.now());
      assert.equal((await app.verifier.verify(pk)).ok, true, 'not yet notified: the cached record still answers');
      assert.equal(listeners.size, 1);
      const seq = app.directory.follower.status().seq;
      for (const notify of listeners) notify();
      // No poll is called here and no timer runs: only the notification can move the follower.
      for (let turn = 0; turn < 1000 && app.directory.follower.status().seq === seq; turn++) await new Promise((resolve) => setImmediate(resolve));
      assert.ok(app.directory.follower.status().seq > seq, 'the notification woke the follower');
      assert.equal((await app.verifier.verify(pk)).ok, false);
    } finally {
      await app.close();
    }
    assert.equal(listeners.size, 0, 'close unsubscribes');
  });
});

describe('housekeeping', () => {
  it('one run prunes change-log entries past their retention (never the newest), with the other jobs, and reports nothing when all succeed', async () => {
    const t = await startTestApp();
    try {
      await t.account('alice');
      const first = await t.token('alice', ['styles:read']);
      const second = await t.token('alice', ['styles:read']);
      const grant = await t.app.access.operator('alice');
      await t.app.tokens.delete(grant, first.id);
      t.clock.advance(CHANGE_RETENTION_MS + 1);
      await t.app.tokens.delete(grant, second.id);
      const before = await t.app.store.changesSince(0, 100);
      const reported: unknown[] = [];
      assert.equal(await t.app.housekeep((error) => reported.push(error)), true);
      assert.deepEqual(reported, []);
      const after = await t.app.store.changesSince(0, 100);
      assert.deepEqual(
        after.map((c) => c.tokenId),
        before.filter((c) => c.at >= t.clock() - CHANGE_RETENTION_MS).map((c) => c.tokenId),
      );
      assert.equal(after.at(-1)?.tokenId, second.id);
      assert.ok(after.length < before.length);
    } finally {
      await t.close();
    }
  });
});
