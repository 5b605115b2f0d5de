/**
 * The tk signing keys (SPEC §2): kept in the store sealed with the key-encryption key, opened in
 * memory. Exactly one key signs; a retired key keeps verifying until every tk it can have signed
 * has expired (an hour, plus clock skew, plus a margin for a node that has not yet read the
 * rotation from the change log). A rotation is a change-log entry: every process's follower
 * reloads its keyring when it reads one (see main.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { CLOCK_SKEW_MS, MAX_TK_LIFETIME_MS } from '../domain/policy.js';
import { newTokenId } from '../domain/token-format.js';
import type { Sealer } from '../domain/sealer.js';
import type { SigningKeyRecord, Store } from '../store/port.js';
import { auditEntry, CLI_CALLER, type Caller } from './audit-service.js';

/**
 * How late a process may learn of a rotation and still sign with the old key: the change log's
 * bound (docs/deployment.md) with a wide margin for a follower that is briefly failing.
 */
const ROTATION_MARGIN_MS = 10_000;
/** How long after its retirement a key still verifies. */
export const RETIRED_KEY_GRACE_MS = MAX_TK_LIFETIME_MS + CLOCK_SKEW_MS + ROTATION_MARGIN_MS;

export interface SigningKey {
  readonly id: string;
  readonly key: Buffer;
  readonly created: number;
  readonly retired: number | null;
}

export class KeyringError extends Error {}

export class Keyring {
  private keys: SigningKey[] = [];

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

  /**
   * Adds a new signing key and retires the old one, audited as `key.rotate` (the first key a new
   * store makes, in `load`, is not: nobody rotated anything).
   */
  async rotate(caller: Caller = CLI_CALLER): Promise<SigningKey> {
    const record = this.newRecord();
    await this.store.addSigningKey(record, auditEntry(caller, 'key.rotate', record.created, null, record.id));
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
      throw new KeyringError('the signing keys in the store cannot be opened: TOKENBOX_SECRET or secret.key is not the one this store was created with');
    }
    return { id: record.id, key, created: record.created, retired: record.retired };
  }
}
