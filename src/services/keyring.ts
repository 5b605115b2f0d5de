/**
 * The tk signing keys (SPEC §2): kept in the store sealed with the key-encryption key, opened in
 * memory. Exactly one key signs; a retired key keeps verifying until every tk it can have signed
 * has expired (an hour, plus clock skew, plus one reload interval for a node that had not yet
 * seen the rotation).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { CLOCK_SKEW_MS, MAX_TK_LIFETIME_MS } from '../domain/policy.js';
import { newTokenId } from '../domain/token-format.js';
import type { Sealer } from '../domain/sealer.js';
import type { SigningKeyRecord, Store } from '../store/port.js';

/** How often a node re-reads the key list, so a rotation by another process is seen. */
export const KEY_RELOAD_MS = 10_000;
/** How long after its retirement a key still verifies. */
export const RETIRED_KEY_GRACE_MS = MAX_TK_LIFETIME_MS + CLOCK_SKEW_MS + KEY_RELOAD_MS;

export interface SigningKey {
  readonly id: string;
  readonly key: Buffer;
  readonly created: number;
  readonly retired: number | null;
}

export class KeyringError extends Error {}

export class Keyring {
  private keys: SigningKey[] = [];
  private loadedAt = 0;

  constructor(
    private readonly store: Store,
    private readonly sealer: Sealer,
    private readonly clock: Clock,
  ) {}

  /**
   * Loads the keys, creating the first one on a new store.
   * @throws KeyringError when a stored key cannot be opened with this key-encryption key.
   */
  async load(): Promise<void> {
    let records = await this.store.listSigningKeys();
    if (records.length === 0) {
      await this.store.addSigningKey(this.newRecord());
      records = await this.store.listSigningKeys();
    }
    this.keys = records.map((r) => this.open(r));
    this.loadedAt = this.clock();
  }

  /** Re-reads the key list when it is older than KEY_RELOAD_MS; cheap enough for a timer. */
  async refresh(): Promise<void> {
    if (this.clock() - this.loadedAt >= KEY_RELOAD_MS) await this.load();
  }

  /** The key that signs now. */
  signingKey(): SigningKey {
    const current = this.keys.find((k) => k.retired === null) ?? this.keys[0];
    if (!current) throw new KeyringError('no signing key is loaded');
    return current;
  }

  /** Keys that may have signed a tk that is still unexpired at `now`, newest first. */
  verifyingKeys(now: number): SigningKey[] {
    return this.keys.filter((k) => k.retired === null || now < k.retired + RETIRED_KEY_GRACE_MS);
  }

  /** Adds a new signing key and retires the old one. */
  async rotate(): Promise<SigningKey> {
    await this.store.addSigningKey(this.newRecord());
    await this.load();
    return this.signingKey();
  }

  list(): readonly SigningKey[] {
    return this.keys;
  }

  private newRecord(): SigningKeyRecord {
    const id = newTokenId();
    return { id, sealedKey: this.sealer.seal(randomBytes(32), id), created: this.clock(), retired: null };
  }

  private open(record: SigningKeyRecord): SigningKey {
    const key = this.sealer.open(record.sealedKey, record.id);
    if (!key) {
      throw new KeyringError(
        'the signing keys in the store cannot be opened: TOKENBOX_SECRET or secret.key is not the one this store was created with',
      );
    }
    return { id: record.id, key, created: record.created, retired: record.retired };
  }
}
