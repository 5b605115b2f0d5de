/**
 * The change follower's failure path and key rotations (SPEC §7): a follower that cannot read the
 * log says so once per failing streak, shows it in its status (and so on /health), keeps its
 * place, and catches up when the store answers again. The store is a real memory store behind a
 * switch that makes reads fail, as a store that went away does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import type { Store, TokenChange } from '../src/store/port.js';
import { ChangeFollower, type ChangeListener } from '../src/verification/change-follower.js';
import { makeDefaultToken, makeToken } from './store-contract.js';
import { testClock } from './helpers/app.js';

function flakyStore(): { store: Store; down: (isDown: boolean) => void } {
  const inner = new MemoryStore();
  let isDown = false;
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (name !== 'changesSince' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return (...args: unknown[]) => (isDown ? Promise.reject(new Error('store unreachable')) : (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
  return { store, down: (value) => (isDown = value) };
}

function recorder(): ChangeListener & { changes: TokenChange[] } {
  const changes: TokenChange[] = [];
  return { changes, applyChange: (c) => changes.push(c), loadTombstones: () => undefined };
}

describe('change follower', () => {
  it('reports a failing streak once, shows it in status, and catches up without missing a change', async () => {
    const { store, down } = flakyStore();
    const clock = testClock();
    const listener = recorder();
    const follower = new ChangeFollower(store, clock, listener, 3_600_000);
    const events: string[] = [];
    follower.onHealthChange((error) => events.push(`failed: ${(error as Error).message}`), () => events.push('recovered'));
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
    assert.deepEqual(listener.changes.map((c) => [c.tokenId, c.kind]), [[token.id, 'delete']], 'the delete made while failing is applied');
    assert.deepEqual(follower.status(), { seq: listener.changes[0]!.seq, lagMs: 0, failing: false });
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
