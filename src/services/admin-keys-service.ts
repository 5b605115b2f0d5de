/**
 * Operators' admin keys (SPEC §10): made, listed and deleted by the CLI; presented as
 * `Authorization: Bearer tba_…` on the operators' API and on the Tokens, Scopes and Analytics APIs.
 *
 * No cache, on purpose: every admin-authenticated request makes one indexed store read by hash.
 * Admin traffic is low, and a deleted key is then refused by every process from the moment the
 * delete commits, with nothing to invalidate (stronger than following the change log, whose
 * bound is a poll interval).
 */
import type { Clock } from '../domain/clock.js';
import { isoDate } from '../domain/clock.js';
import { AppError } from '../domain/errors.js';
import { hashAdminKey, isAdminKey, newAdminKey } from '../domain/admin-key-format.js';
import { newTokenId } from '../domain/token-format.js';
import type { AdminKeyRecord, Store } from '../store/port.js';
import { auditEntry, CLI_CALLER, type Caller } from './audit-service.js';

export interface AdminKeyView {
  id: string;
  note: string;
  created: string;
}

/** The create answer: the only time the key string is ever shown. */
export interface CreatedAdminKey extends AdminKeyView {
  key: string;
}

/** Who an accepted admin key speaks for: its id, nothing of the stored record. */
export interface AdminIdentity {
  readonly keyId: string;
}

export class AdminKeysService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** A new key; its string is in this answer and nowhere else. `note` arrives validated (inputs.ts). */
  async create(note = '', caller: Caller = CLI_CALLER): Promise<CreatedAdminKey> {
    const key = newAdminKey();
    const record: AdminKeyRecord = { id: newTokenId(), note, keyHash: hashAdminKey(key), created: this.clock() };
    await this.store.insertAdminKey(record, auditEntry(caller, 'admin_key.create', record.created, null, record.id));
    return { ...view(record), key };
  }

  /** Every key, oldest first: id, note and date, never the key or its hash. */
  async list(): Promise<AdminKeyView[]> {
    return (await this.store.listAdminKeys()).map(view);
  }

  /**
   * Deletes the key; every process refuses it from the next request on.
   * @throws AppError `no_such_admin_key`.
   */
  async delete(id: string, caller: Caller = CLI_CALLER): Promise<void> {
    if (!(await this.store.deleteAdminKey(id, auditEntry(caller, 'admin_key.delete', this.clock(), null, id)))) throw new AppError('no_such_admin_key');
  }

  /** The identity of a presented key, or null (malformed, unknown or deleted). One store read. */
  async resolve(presented: string): Promise<AdminIdentity | null> {
    if (!isAdminKey(presented)) return null;
    const record = await this.store.findAdminKeyByHash(hashAdminKey(presented));
    return record === null ? null : Object.freeze({ keyId: record.id });
  }
}

function view(record: AdminKeyRecord): AdminKeyView {
  return { id: record.id, note: record.note, created: isoDate(record.created) };
}
