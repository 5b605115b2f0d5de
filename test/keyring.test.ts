import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { Sealer } from '../src/domain/sealer.js';
import { signTemporaryToken, type TemporaryPayload } from '../src/domain/token-format.js';
import { Keyring, KeyringError, RETIRED_KEY_GRACE_MS } from '../src/services/keyring.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { makeToken } from './store-contract.js';
import { Authenticator } from '../src/verification/authenticator.js';
import { TokenDirectory } from '../src/verification/token-directory.js';
import { testClock, type TestClock } from './helpers/app.js';

const SECRET = 'unit-test-secret-of-at-least-32-characters';

describe('keyring and temporary-token verification', () => {
  let store: MemoryStore;
  let clock: TestClock;
  let keyring: Keyring;
  let auth: Authenticator;
  let directory: TokenDirectory;
  let parentId: string;

  function tk(overrides: Partial<TemporaryPayload> = {}, key = keyring.signingKey().key): string {
    const iat = Math.floor(clock() / 1000);
    return signTemporaryToken(key, { u: 'alice', exp: iat + 600, iat, scopes: ['styles:read'], client: 'api', p: parentId, ...overrides });
  }

  beforeEach(async () => {
    store = new MemoryStore();
    clock = testClock();
    keyring = new Keyring(store, new Sealer(SECRET), clock);
    await keyring.load();
    directory = new TokenDirectory(store, clock, 100);
    await directory.follower.start(0);
    auth = new Authenticator(store, directory, keyring, clock);
    await store.createAccount({ username: 'alice', created: clock() }, makeToken('alice', { isDefault: true }));
    const parent = makeToken('alice');
    await store.insertToken(parent, 100);
    parentId = parent.id;
  });

  it('creates one signing key on a new store and keeps it across loads', async () => {
    const first = keyring.signingKey().id;
    await new Keyring(store, new Sealer(SECRET), clock).load();
    assert.equal((await store.listSigningKeys()).length, 1);
    assert.equal(keyring.signingKey().id, first);
  });

  it('verifies a tk until exp, then reports it expired (injected clock)', async () => {
    const token = tk();
    assert.equal((await auth.authenticate(token)).ok, true);
    clock.advance(599_999);
    assert.equal((await auth.authenticate(token)).ok, true);
    clock.advance(1);
    assert.deepEqual(await auth.authenticate(token), { ok: false, reason: 'expired' });
  });

  it('refuses lifetimes over an hour and an iat more than 60 s ahead', async () => {
    const iat = Math.floor(clock() / 1000);
    assert.deepEqual(await auth.authenticate(tk({ iat, exp: iat + 3601 })), { ok: false, reason: 'invalid' });
    assert.equal((await auth.authenticate(tk({ iat, exp: iat + 3600 }))).ok, true);
    assert.deepEqual(await auth.authenticate(tk({ iat: iat + 61, exp: iat + 600 })), { ok: false, reason: 'invalid' });
    assert.equal((await auth.authenticate(tk({ iat: iat + 60, exp: iat + 600 }))).ok, true);
  });

  it('revokes a tk once its parent p is deleted: through the change log once the parent is cached', async () => {
    const token = tk();
    assert.equal((await auth.authenticate(token)).ok, true, 'the first use reads and caches the parent');
    const reads = directory.stats.reads;
    await store.deleteToken('alice', parentId, clock());
    assert.equal((await auth.authenticate(token)).ok, true, 'not yet seen: the follower has not polled');
    await directory.follower.poll();
    assert.deepEqual(await auth.authenticate(token), { ok: false, reason: 'revoked' });
    assert.equal(directory.stats.reads, reads, 'the tombstone answers, with no read');
  });

  it('revokes a tk whose parent is gone when it is first seen (the parent read finds nothing)', async () => {
    const token = tk();
    await store.deleteToken('alice', parentId, clock());
    assert.deepEqual(await auth.authenticate(token), { ok: false, reason: 'revoked' });
  });

  it('keeps a rotated-out key verifying for its grace period, then not', async () => {
    const oldKey = keyring.signingKey();
    const oldToken = tk();
    const rotated = await keyring.rotate();
    assert.notEqual(rotated.id, oldKey.id);
    assert.equal((await auth.authenticate(oldToken)).ok, true, 'old tk still verifies after rotation');
    // Even a tk a lagging node signed with the old key just after the rotation stays valid.
    clock.advance(RETIRED_KEY_GRACE_MS - 3_600_000 - 1);
    const late = tk({}, oldKey.key);
    assert.equal((await auth.authenticate(late)).ok, true);
    clock.advance(3_600_000 + 2);
    assert.equal(
      keyring.verifyingKeys(clock()).some((k) => k.id === oldKey.id),
      false,
    );
    // Every tk the old key can have signed has expired by the time the key is dropped.
    assert.deepEqual(await auth.authenticate(late), { ok: false, reason: 'expired' });
    // A process that never saw it finds no key for its MAC at all.
    const fresh = new Authenticator(store, directory, keyring, clock);
    assert.deepEqual(await fresh.authenticate(late), { ok: false, reason: 'invalid' });
    assert.equal((await auth.authenticate(tk())).ok, true, 'new key signs and verifies');
  });

  it('a tk signed by a key another process just added passes as soon as the change log brings the rotation', async () => {
    directory.follower.onKeyRotation(async () => {
      await keyring.load();
      auth.forgetForged();
    });
    const other = new Keyring(store, new Sealer(SECRET), clock);
    await other.load();
    const fresh = await other.rotate();
    const token = tk({}, fresh.key);
    assert.deepEqual(await auth.authenticate(token), { ok: false, reason: 'invalid' }, 'unknown key: refused (and remembered briefly)');
    await directory.follower.poll();
    assert.equal(keyring.signingKey().id, fresh.id, 'this keyring signs with the new key');
    assert.equal((await auth.authenticate(token)).ok, true, 'no clock advance: the rotation clears the remembered refusal');
  });

  it("remembers a verified tk but still sees its expiry and its parent's deletion", async () => {
    const token = tk();
    assert.equal((await auth.authenticate(token)).ok, true);
    await store.deleteToken('alice', parentId, clock());
    await directory.follower.poll();
    assert.deepEqual(await auth.authenticate(token), { ok: false, reason: 'revoked' });
  });

  it('refuses to load keys sealed under another secret', async () => {
    await assert.rejects(new Keyring(store, new Sealer('another-secret-of-at-least-32-characters'), clock).load(), KeyringError);
  });
});
