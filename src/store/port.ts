/**
 * The store port: everything tokenbox keeps, shaped by its use cases. Every backend (memory,
 * SQLite, later PostgreSQL) implements it and passes `test/store-contract.ts`.
 *
 * Conventions: times are Unix milliseconds; methods are async (PostgreSQL is); each method is
 * atomic on its own; "the change log" is `token_changes(seq, token_id, kind, at)`, appended in
 * the same transaction as the change it records (SPEC §7), with `seq` strictly increasing.
 */
import type { StoredUsage } from '../domain/token-format.js';
import type { AllowedApplication } from '../domain/url-rules.js';

export interface AccountRecord {
  readonly username: string;
  readonly created: number;
}

export type { AllowedApplication };

export interface TokenRecord {
  readonly id: string;
  readonly username: string;
  readonly usage: StoredUsage;
  readonly note: string;
  readonly scopes: readonly string[];
  readonly allowedUrls: readonly string[] | null;
  readonly allowedApplications: readonly AllowedApplication[] | null;
  readonly isDefault: boolean;
  /** SHA-256 (base64) of the whole token string; unique. */
  readonly tokenHash: string;
  /** pk only: the token string sealed with the key-encryption key; null for sk. */
  readonly sealedToken: string | null;
  readonly created: number;
  readonly modified: number;
  /** Id of the token that created this one, or `cli` / `web`. */
  readonly createdBy: string;
  readonly lastUsed: number | null;
}

/** Fields a PATCH may change; an absent key keeps the stored value, `null` clears a restriction. */
export interface TokenPatch {
  readonly note?: string;
  readonly scopes?: readonly string[];
  readonly allowedUrls?: readonly string[] | null;
  readonly allowedApplications?: readonly AllowedApplication[] | null;
}

export type SortBy = 'created' | 'modified';

/** A position in a list: the item at (sortValue, id) and everything before it are skipped. */
export interface ListCursor {
  readonly sortValue: number;
  readonly id: string;
}

export interface ListQuery {
  readonly sortBy: SortBy;
  /** Newest first, ties by id descending; items strictly after `after` in that order. */
  readonly after: ListCursor | null;
  readonly limit: number;
  readonly usage?: StoredUsage;
  readonly isDefault?: boolean;
}

export type ChangeKind = 'update' | 'delete';

export interface TokenChange {
  readonly seq: number;
  readonly tokenId: string;
  readonly kind: ChangeKind;
  readonly at: number;
}

export interface SigningKeyRecord {
  readonly id: string;
  /** The HMAC key sealed with the key-encryption key (never the raw key). */
  readonly sealedKey: string;
  readonly created: number;
  /** When a newer key took over signing; null for the key that signs now. */
  readonly retired: number | null;
}

export interface MigrationResult {
  /** Names of the migrations this call applied, in order; empty when already current. */
  readonly applied: readonly string[];
}

export interface Store {
  /** Applies pending numbered migrations, recorded in a table; safe to call from every process. */
  migrate(): Promise<MigrationResult>;
  /** Resolves when the store answers; rejects when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;

  /**
   * Creates an account together with its default public token, atomically: both or neither.
   * Returns false (and writes nothing) when the username exists.
   */
  createAccount(account: AccountRecord, defaultToken: TokenRecord): Promise<boolean>;
  getAccount(username: string): Promise<AccountRecord | null>;
  /** All accounts, oldest first (ties by username). */
  listAccounts(): Promise<AccountRecord[]>;

  /**
   * Inserts a token unless the account already holds `maxTokens` (counted in the same
   * transaction, so concurrent inserts cannot overshoot). Returns false when full.
   */
  insertToken(token: TokenRecord, maxTokens: number): Promise<boolean>;
  /** The token with this hash, for verification; one indexed read. */
  findTokenByHash(tokenHash: string): Promise<TokenRecord | null>;
  /** The token with this id if it belongs to `username`. */
  getToken(username: string, id: string): Promise<TokenRecord | null>;
  /** Whether a pk/sk with this id exists (any account): a tk's `p` check. */
  tokenExists(id: string): Promise<boolean>;
  /**
   * The hash of the token with this id if the change log records its delete, else null: tells a
   * revoked token (same hash) from a forged one after the row is gone.
   */
  deletedTokenHash(id: string): Promise<string | null>;
  /** One page in keyset order (see ListQuery); the cost does not grow with the cursor's depth. */
  listTokens(username: string, query: ListQuery): Promise<TokenRecord[]>;
  /**
   * Applies the patch, sets `modified`, and appends an `update` change, atomically.
   * Returns the new record, or null when no such token belongs to `username`.
   */
  updateToken(username: string, id: string, patch: TokenPatch, modified: number): Promise<TokenRecord | null>;
  /**
   * Deletes the token and appends a `delete` change (with the token's hash), atomically.
   * False when there was none.
   */
  deleteToken(username: string, id: string, at: number): Promise<boolean>;
  /**
   * Refresh: deletes the account's default token `oldId` and inserts `replacement` (a default pk)
   * in one transaction, with a `delete` change for the old id. False when `oldId` is not the
   * account's default token (nothing is written).
   */
  replaceDefaultToken(username: string, oldId: string, replacement: TokenRecord, at: number): Promise<boolean>;
  /** Rewrites the scopes of every default token (start-up re-derivation); no change-log entry unless changed. */
  setDefaultTokenScopes(scopes: readonly string[], at: number): Promise<number>;

  /** Changes with `seq > afterSeq`, oldest first, at most `limit`. */
  changesSince(afterSeq: number, limit: number): Promise<TokenChange[]>;
  /** `delete` changes with `at >= sinceAt`, oldest first: the tombstones a starting node loads. */
  recentDeletes(sinceAt: number): Promise<TokenChange[]>;
  /** The highest `seq` written so far (0 when none). */
  latestChangeSeq(): Promise<number>;

  /** Every signing key, newest first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /**
   * Adds a signing key and retires (sets `retired = key.created` on) every unretired key, in one
   * transaction, so exactly one key signs at any time.
   */
  addSigningKey(key: SigningKeyRecord): Promise<void>;
}

/** An absent (or undefined) key keeps the stored value; `null` clears a restriction. */
export function applyPatch(token: TokenRecord, patch: TokenPatch, modified: number): TokenRecord {
  return {
    ...token,
    note: patch.note ?? token.note,
    scopes: patch.scopes ?? token.scopes,
    allowedUrls: patch.allowedUrls === undefined ? token.allowedUrls : patch.allowedUrls,
    allowedApplications:
      patch.allowedApplications === undefined ? token.allowedApplications : patch.allowedApplications,
    modified,
  };
}
