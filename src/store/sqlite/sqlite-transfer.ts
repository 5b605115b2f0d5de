/**
 * `TransferableStore` for SQLite (SPEC §8 `export` / `import`): every record as it is stored, read
 * in keyset pages inside one snapshot, and written back inside one IMMEDIATE transaction.
 *
 * Each export and each import runs on a connection of its own, opened on the same file and
 * closed when it ends. The store's one connection cannot hold them: better-sqlite3 runs every
 * call of a connection inside whatever transaction that connection has open, so a token created
 * by this process during an export would land inside the export's snapshot (and be exported, or
 * fail with SQLITE_BUSY_SNAPSHOT), and one made during an import would be rolled back with it.
 * On a connection of their own, the store's other calls see neither: a write during an export is
 * simply not in it (WAL: the reader keeps its snapshot, the writer is not blocked), and a write
 * during an import waits for the import's write lock like any other process's.
 */
import type Database from 'better-sqlite3';
import type { ImportWriter, StoreContents, TransferableStore, TransferRecord } from '../transfer.js';
import { fromAuditRow, toAuditRow, type AuditRow } from './audit-row.js';
import { openDatabase } from './connection.js';
import { retryWhileLocked } from './retry-while-locked.js';
import { StatementCache } from './statement-cache.js';
import { SQL } from './statements.js';
import { fromTokenRow, toTokenRow, type TokenRow } from './token-row.js';
import {
  fromDeleteRow,
  fromUsageRow,
  toAdminKey,
  toSession,
  toSigningKey,
  type AdminKeyRow,
  type DeleteRow,
  type KeyRow,
  type SessionRow,
  type UsageRow,
} from './record-rows.js';

/** Rows one export read takes, when the caller names no page size. */
export const EXPORT_PAGE_SIZE = 500;

/** One kind's keyset pages: its first page, the page after a cursor, and the cursor of a row. */
interface Pager {
  readonly first: string;
  readonly after: string;
  cursor(row: Record<string, unknown>): Record<string, unknown>;
  toRecord(row: Record<string, unknown>): TransferRecord;
}

const TOKEN_COLUMNS = `id, username, usage, note, scopes, allowed_urls, allowed_applications,
  is_default, token_hash, sealed_token, created, modified, created_by, last_used`;

/** A pager over one table by its primary key `key` (unique, indexed: each page is a range seek). */
function byKey(table: string, columns: string, key: string, toRecord: Pager['toRecord'], where = 'TRUE'): Pager {
  return {
    first: `SELECT ${columns} FROM ${table} WHERE ${where} ORDER BY ${key} LIMIT CAST(@limit AS INTEGER)`,
    after: `SELECT ${columns} FROM ${table} WHERE ${where} AND ${key} > @after ORDER BY ${key} LIMIT CAST(@limit AS INTEGER)`,
    cursor: (row) => ({ after: row[key] }),
    toRecord,
  };
}

/** In TRANSFER_ORDER: each kind refers only to kinds before it. */
const PAGERS: readonly Pager[] = [
  byKey('accounts', 'username, created, password_hash, disabled', 'username', (row) => ({
    kind: 'account',
    username: row.username as string,
    created: row.created as number,
    passwordHash: row.password_hash as string | null,
    disabled: row.disabled === 1,
  })),
  byKey('tokens', TOKEN_COLUMNS, 'id', (row) => ({ kind: 'token', ...fromTokenRow(row as unknown as TokenRow) })),
  {
    // token_usage is WITHOUT ROWID on (token_id, day): the row value compares on that key.
    first: 'SELECT token_id, day, count FROM token_usage ORDER BY token_id, day LIMIT CAST(@limit AS INTEGER)',
    after: 'SELECT token_id, day, count FROM token_usage WHERE (token_id, day) > (@tokenId, @day) ORDER BY token_id, day LIMIT CAST(@limit AS INTEGER)',
    cursor: (row) => ({ tokenId: row.token_id, day: row.day }),
    toRecord: (row) => ({ kind: 'usage', ...fromUsageRow(row as unknown as UsageRow) }),
  },
  byKey('sessions', 'id_hash, username, created, expires', 'id_hash', (row) => ({ kind: 'session', ...toSession(row as unknown as SessionRow) })),
  byKey('signing_keys', 'id, sealed_key, created, retired', 'id', (row) => ({ kind: 'signingKey', ...toSigningKey(row as unknown as KeyRow) })),
  byKey('admin_keys', 'id, note, key_hash, created', 'id', (row) => ({ kind: 'adminKey', ...toAdminKey(row as unknown as AdminKeyRow) })),
  // A delete whose hash is unknown could not tell a revoked token from a forged one anyway;
  // every delete tokenbox writes has one.
  byKey(
    'token_changes',
    'seq, token_id, at, token_hash',
    'seq',
    (row) => ({ kind: 'delete', ...fromDeleteRow(row as unknown as DeleteRow) }),
    "kind = 'delete' AND token_hash IS NOT NULL",
  ),
  byKey('audit_log', 'id, at, actor_kind, actor_id, account, action, target, ip, details', 'id', (row) => ({
    kind: 'audit',
    ...fromAuditRow(row as unknown as AuditRow),
  })),
];

const IMPORT_SQL = {
  contents: `SELECT (SELECT COUNT(*) FROM accounts) AS accounts, (SELECT COUNT(*) FROM signing_keys) AS signingKeys,
    (SELECT COUNT(*) FROM admin_keys) AS adminKeys, (SELECT COUNT(*) FROM audit_log) AS auditEntries`,
  // token_count starts at 0 and is set once at commit from the tokens imported (see commit).
  insertAccount: 'INSERT INTO accounts (username, created, token_count, password_hash, disabled) VALUES (?, ?, 0, ?, ?)',
  insertUsage: 'INSERT INTO token_usage (token_id, day, count) VALUES (?, ?, ?)',
  // An explicit id: AUTOINCREMENT's high-water mark (sqlite_sequence) follows the largest one.
  insertAudit: `INSERT INTO audit_log (id, at, actor_kind, actor_id, account, action, target, ip, details)
    VALUES (@id, @at, @actor_kind, @actor_id, @account, @action, @target, @ip, @details)`,
  countTokens: 'UPDATE accounts SET token_count = (SELECT COUNT(*) FROM tokens WHERE tokens.username = accounts.username)',
} as const;

/**
 * Every record of the file, in TRANSFER_ORDER, `pageSize` rows a read, in one deferred read
 * transaction: its first SELECT fixes the WAL snapshot every later page reads. The connection is
 * opened at the first `next()` and committed and closed in a `finally`, which also runs when the
 * consumer stops early (`return()` on the iterator, a `break` out of `for await`).
 */
export async function* exportSqliteRecords(filePath: string, lockWaitMs: number, pageSize = EXPORT_PAGE_SIZE): AsyncGenerator<TransferRecord> {
  const limit = Math.max(1, Math.floor(pageSize));
  const db = openDatabase(filePath, lockWaitMs);
  try {
    // Nothing an export runs can write, whatever a later edit does to it.
    db.pragma('query_only = ON');
    db.exec('BEGIN');
    try {
      for (const pager of PAGERS) {
        const first = db.prepare(pager.first);
        const after = db.prepare(pager.after);
        let cursor: Record<string, unknown> | null = null;
        for (;;) {
          const params: Record<string, unknown> = { limit, ...cursor };
          const rows = await retryWhileLocked(() => (cursor === null ? first : after).all(params) as Record<string, unknown>[], lockWaitMs);
          for (const row of rows) yield pager.toRecord(row);
          const last = rows.at(-1);
          if (rows.length < limit || last === undefined) break;
          cursor = pager.cursor(last);
        }
      }
    } finally {
      if (db.inTransaction) db.exec('COMMIT');
    }
  } finally {
    db.close();
  }
}

/**
 * Takes the write lock (BEGIN IMMEDIATE, waiting for it asynchronously like every write), checks
 * that the file holds nothing an import would collide with, and hands out the writer; or rolls
 * back, closes, and reports what the file holds.
 */
export async function beginSqliteImport(filePath: string, lockWaitMs: number): ReturnType<TransferableStore['beginImport']> {
  const db = openDatabase(filePath, lockWaitMs);
  try {
    await retryWhileLocked(() => db.exec('BEGIN IMMEDIATE'), lockWaitMs);
    const contents = db.prepare(IMPORT_SQL.contents).get() as StoreContents;
    if (contents.accounts + contents.signingKeys + contents.adminKeys + contents.auditEntries > 0) {
      db.exec('ROLLBACK');
      db.close();
      return { empty: false, contents: Object.freeze({ ...contents }) };
    }
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    db.close();
    throw error;
  }
  return { empty: true, writer: new SqliteImportWriter(db) };
}

/** The import's transaction on its own connection; closed by `commit` or `abort`. */
class SqliteImportWriter implements ImportWriter {
  private readonly statements: StatementCache;

  constructor(private readonly db: Database.Database) {
    this.statements = new StatementCache(db);
  }

  /**
   * Synchronous inside, and never retried: the write lock is already held, and re-running a batch
   * after a partial failure would only report its first rows as duplicates. A refused row rejects.
   */
  async write(records: readonly TransferRecord[]): Promise<void> {
    for (const record of records) this.insert(record);
  }

  /** Sets every account's token_count from the tokens it now holds, then COMMITs. */
  async commit(): Promise<void> {
    try {
      this.stmt(IMPORT_SQL.countTokens).run();
      this.db.exec('COMMIT');
    } finally {
      this.close();
    }
  }

  async abort(): Promise<void> {
    this.close();
  }

  /** Rolls back whatever is still open (closing with a transaction open would too, but say it). */
  private close(): void {
    if (!this.db.open) return;
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.db.close();
  }

  private insert(record: TransferRecord): void {
    switch (record.kind) {
      case 'account':
        this.stmt(IMPORT_SQL.insertAccount).run(record.username, record.created, record.passwordHash, record.disabled ? 1 : 0);
        return;
      case 'token':
        this.stmt(SQL.insertToken).run(toTokenRow(record));
        return;
      case 'usage':
        this.stmt(IMPORT_SQL.insertUsage).run(record.tokenId, record.day, record.count);
        return;
      case 'session':
        this.stmt(SQL.insertSession).run({ idHash: record.idHash, username: record.username, created: record.created, expires: record.expires });
        return;
      case 'signingKey':
        this.stmt(SQL.insertKey).run(record.id, record.sealedKey, record.created, record.retired);
        return;
      case 'adminKey':
        this.stmt(SQL.insertAdminKey).run({ id: record.id, note: record.note, keyHash: record.keyHash, created: record.created });
        return;
      case 'delete':
        this.stmt(SQL.appendChange).run(record.tokenId, 'delete', record.at, record.tokenHash);
        return;
      case 'audit':
        this.stmt(IMPORT_SQL.insertAudit).run({ id: record.id, ...toAuditRow(record) });
        return;
    }
  }

  private stmt(sql: string): Database.Statement {
    return this.statements.get(sql);
  }
}
