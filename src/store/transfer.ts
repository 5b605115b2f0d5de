/**
 * Moving a deployment between stores (SPEC §8 `export` / `import`): every record a store keeps,
 * as plain JSON-able objects, one per line of the export file. Secrets stay as the store keeps
 * them: token and admin-key hashes, sealed pk strings and signing keys (sealed with the
 * key-encryption key derived from TOKENBOX_SECRET, so the target needs the same secret), password
 * hashes, session-id hashes. Nothing here is a token string.
 *
 * A backend that can be moved implements `TransferableStore` beside the `Store` port. Records come
 * out, and must go in, in dependency order: accounts, tokens, usage, sessions, signing keys,
 * admin keys, deletes, audit entries (`TRANSFER_ORDER`).
 */
import type { AuditEntry, SessionRecord, SigningKeyRecord, AdminKeyRecord, TokenRecord } from './port.js';

export interface AccountTransfer {
  readonly kind: 'account';
  readonly username: string;
  readonly created: number;
  /** argon2id hash, or null: no password (the page cannot be signed in to). */
  readonly passwordHash: string | null;
  readonly disabled: boolean;
}

/** A pk/sk record exactly as stored, `lastUsed` and `sealedToken` included. */
export interface TokenTransfer extends TokenRecord {
  readonly kind: 'token';
}

/** One token's verified requests on one UTC day. */
export interface UsageTransfer {
  readonly kind: 'usage';
  readonly tokenId: string;
  readonly day: number;
  readonly count: number;
}

export interface SessionTransfer extends SessionRecord {
  readonly kind: 'session';
}

export interface SigningKeyTransfer extends SigningKeyRecord {
  readonly kind: 'signingKey';
}

export interface AdminKeyTransfer extends AdminKeyRecord {
  readonly kind: 'adminKey';
}

/**
 * A token's delete as the change log records it (its id, when, and the deleted string's hash):
 * imported as a `delete` change, so tks of a deleted parent stay refused after the move and a
 * revoked token is still told from a forged one. Updates and key rotations are not moved: they
 * only invalidate caches, and the target's caches start empty.
 */
export interface DeleteTransfer {
  readonly kind: 'delete';
  readonly tokenId: string;
  readonly at: number;
  readonly tokenHash: string;
}

/** An audit entry with its id, so the target's `before` cursors and order are the source's. */
export interface AuditTransfer extends AuditEntry {
  readonly kind: 'audit';
}

export type TransferRecord =
  AccountTransfer | TokenTransfer | UsageTransfer | SessionTransfer | SigningKeyTransfer | AdminKeyTransfer | DeleteTransfer | AuditTransfer;

export type TransferKind = TransferRecord['kind'];

/** The order records are exported in and must be imported in (each kind only refers to earlier kinds). */
export const TRANSFER_ORDER: readonly TransferKind[] = ['account', 'token', 'usage', 'session', 'signingKey', 'adminKey', 'delete', 'audit'];

/** An import in progress: one transaction, committed only when everything is written. */
export interface ImportWriter {
  /**
   * Writes records (in TRANSFER_ORDER; within a kind, any order) inside the import's transaction.
   * Rejects on a record the store refuses (a duplicate key, a token of a missing account); the
   * caller then calls `abort`.
   */
  write(records: readonly TransferRecord[]): Promise<void>;
  /** Commits everything written; afterwards the store's sequences continue past the imported ids. */
  commit(): Promise<void>;
  /** Rolls everything back: the store is as empty as before `beginImport`. Safe to call after a failure. */
  abort(): Promise<void>;
}

/** What makes a store non-empty for an import, counted by `beginImport`'s check. */
export interface StoreContents {
  readonly accounts: number;
  readonly signingKeys: number;
  readonly adminKeys: number;
  readonly auditEntries: number;
}

export interface TransferableStore {
  /**
   * Every record, in TRANSFER_ORDER, read in pages (keyset, `pageSize` rows a read) inside one
   * read-only snapshot, so a store written to meanwhile exports one consistent state and a
   * million tokens never sit in memory at once. Closing the iterator early ends the snapshot.
   */
  exportRecords(pageSize?: number): AsyncIterable<TransferRecord>;
  /**
   * Opens the import's transaction, taking the store's write lock, and checks that the store
   * holds no account, signing key, admin key or audit entry. When it holds any, rolls back and
   * resolves `{ empty: false, contents }` having written nothing.
   */
  beginImport(): Promise<{ readonly empty: true; readonly writer: ImportWriter } | { readonly empty: false; readonly contents: StoreContents }>;
}
