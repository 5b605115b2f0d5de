/**
 * The SQLite backend: one file in the data directory (`tokenbox.db`), one connection per
 * process. Several processes may share the file (`serve` plus CLI commands); every write runs in
 * an IMMEDIATE transaction, so it takes the write lock before it reads anything and a
 * check-then-write (the token limit, "is this the default token") cannot interleave with another
 * process's write. better-sqlite3 is synchronous; the methods are async only to fit the port.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type {
  AccountRecord,
  ChangeKind,
  ListQuery,
  MigrationResult,
  SigningKeyRecord,
  SortBy,
  Store,
  TokenChange,
  TokenPatch,
  TokenRecord,
} from '../port.js';
import { applyPatch } from '../port.js';
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from './migrations.js';
import { fromTokenRow, toTokenRow, type TokenRow } from './token-row.js';

/** What `pragmas()` reports: the connection settings `open` chose (for diagnostics and tests). */
export interface SqlitePragmas {
  readonly busyTimeout: number;
  readonly journalMode: string;
  readonly synchronous: number;
  readonly foreignKeys: number;
}

/** How long a statement waits for another process's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

const TOKEN_COLUMNS = `id, username, usage, note, scopes, allowed_urls, allowed_applications,
  is_default, token_hash, sealed_token, created, modified, created_by, last_used`;

const SQL = {
  ping: 'SELECT 1',
  appliedMigrations: 'SELECT name FROM schema_migrations',
  recordMigration: 'INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)',
  insertAccount: 'INSERT INTO accounts (username, created, token_count) VALUES (?, ?, 1)',
  getAccount: 'SELECT username, created FROM accounts WHERE username = ?',
  listAccounts: 'SELECT username, created FROM accounts ORDER BY created, username',
  insertToken: `INSERT INTO tokens (${TOKEN_COLUMNS}) VALUES (@id, @username, @usage, @note,
    @scopes, @allowed_urls, @allowed_applications, @is_default, @token_hash, @sealed_token,
    @created, @modified, @created_by, @last_used)`,
  // The token limit is checked against a counter kept in the same transactions as inserts and
  // deletes: constant time, where COUNT(*) walks the account's whole index range on every create.
  claimTokenSlot: 'UPDATE accounts SET token_count = token_count + 1 WHERE username = ? AND token_count < ?',
  releaseTokenSlot: 'UPDATE accounts SET token_count = token_count - 1 WHERE username = ?',
  tokenByHash: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?`,
  tokenById: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ? AND username = ?`,
  tokenExists: 'SELECT 1 FROM tokens WHERE id = ?',
  deletedHash: "SELECT token_hash FROM token_changes WHERE token_id = ? AND kind = 'delete' LIMIT 1",
  updateToken: `UPDATE tokens SET note = @note, scopes = @scopes, allowed_urls = @allowed_urls,
    allowed_applications = @allowed_applications, modified = @modified WHERE id = @id`,
  deleteToken: 'DELETE FROM tokens WHERE id = ? AND username = ? RETURNING token_hash',
  deleteDefaultToken: 'DELETE FROM tokens WHERE id = ? AND username = ? AND is_default = 1 RETURNING token_hash',
  // Scopes are always written as JSON.stringify of the array, so equal lists are equal text.
  setDefaultScopes: `UPDATE tokens SET scopes = @scopes, modified = @at
    WHERE is_default = 1 AND scopes <> @scopes RETURNING id`,
  appendChange: 'INSERT INTO token_changes (token_id, kind, at, token_hash) VALUES (?, ?, ?, ?)',
  changesSince: 'SELECT seq, token_id, kind, at FROM token_changes WHERE seq > ? ORDER BY seq LIMIT ?',
  recentDeletes: "SELECT seq, token_id, kind, at FROM token_changes WHERE kind = 'delete' AND at >= ? ORDER BY seq",
  latestSeq: 'SELECT COALESCE(MAX(seq), 0) AS seq FROM token_changes',
  listKeys: 'SELECT id, sealed_key, created, retired FROM signing_keys ORDER BY created DESC, id DESC',
  retireKeys: 'UPDATE signing_keys SET retired = ? WHERE retired IS NULL',
  insertKey: 'INSERT INTO signing_keys (id, sealed_key, created, retired) VALUES (?, ?, ?, ?)',
} as const;

/**
 * The keyset page query. The sort column comes from a closed set, never from input. With a
 * cursor, SQLite turns the `<` / `=` pair into a range seek on `tokens_by_username_<column>`,
 * so the page after 100,000 tokens reads as few rows as the first page (a test checks the plan).
 */
export function listTokensSql(sortBy: SortBy, hasCursor: boolean): string {
  const column = sortBy === 'modified' ? 'modified' : 'created';
  const after = hasCursor
    ? `AND (${column} < @sortValue OR (${column} = @sortValue AND id < @id))`
    : '';
  return `SELECT ${TOKEN_COLUMNS} FROM tokens
    WHERE username = @username ${after}
      AND (@usage IS NULL OR usage = @usage)
      AND (@isDefault IS NULL OR is_default = @isDefault)
    ORDER BY ${column} DESC, id DESC LIMIT @limit`;
}

interface ChangeRow {
  seq: number;
  token_id: string;
  kind: ChangeKind;
  at: number;
}

interface KeyRow {
  id: string;
  sealed_key: string;
  created: number;
  retired: number | null;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  /** Statements are prepared on first use (the tables may not exist before `migrate`), then reused. */
  private readonly statements = new Map<string, Database.Statement>();
  private readonly migrateTx: () => string[];
  private readonly createAccountTx: (account: AccountRecord, token: TokenRecord) => boolean;
  private readonly insertTokenTx: (token: TokenRecord, maxTokens: number) => boolean;
  private readonly updateTokenTx: (username: string, id: string, patch: TokenPatch, modified: number) => TokenRecord | null;
  private readonly deleteTokenTx: (username: string, id: string, at: number) => boolean;
  private readonly replaceDefaultTx: (username: string, oldId: string, replacement: TokenRecord, at: number) => boolean;
  private readonly setDefaultScopesTx: (scopes: readonly string[], at: number) => number;
  private readonly addKeyTx: (key: SigningKeyRecord) => void;

  /** Opens (creating if missing) the database file and configures the connection. */
  static open(filePath: string): SqliteStore {
    const db = new Database(filePath);
    try {
      configure(db);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteStore(db);
  }

  private constructor(db: Database.Database) {
    this.db = db;
    // `.immediate`: take the write lock at BEGIN. A deferred transaction that reads and then
    // writes can fail with SQLITE_BUSY_SNAPSHOT when another process wrote in between, and
    // busy_timeout cannot help with that; IMMEDIATE waits for the lock instead.
    const immediate = <A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) => {
      const tx = db.transaction(fn);
      return (...args: A) => tx.immediate(...args);
    };
    this.migrateTx = immediate(() => this.applyPendingMigrations());
    this.createAccountTx = immediate((account: AccountRecord, token: TokenRecord) => {
      if (this.stmt(SQL.getAccount).get(account.username) !== undefined) return false;
      this.stmt(SQL.insertAccount).run(account.username, account.created);
      this.stmt(SQL.insertToken).run(toTokenRow(token));
      return true;
    });
    this.insertTokenTx = immediate((token: TokenRecord, maxTokens: number) => {
      const claimed = this.stmt(SQL.claimTokenSlot).run(token.username, maxTokens).changes === 1;
      // Not claimed: the account is full, or missing (then the insert below fails on its key).
      if (!claimed && this.stmt(SQL.getAccount).get(token.username) !== undefined) return false;
      this.stmt(SQL.insertToken).run(toTokenRow(token));
      return true;
    });
    this.updateTokenTx = immediate((username: string, id: string, patch: TokenPatch, modified: number) => {
      const current = this.readToken(username, id);
      if (current === null) return null;
      const next = toTokenRow(applyPatch(current, patch, modified));
      this.stmt(SQL.updateToken).run({
        id,
        note: next.note,
        scopes: next.scopes,
        allowed_urls: next.allowed_urls,
        allowed_applications: next.allowed_applications,
        modified,
      });
      this.stmt(SQL.appendChange).run(id, 'update', modified, null);
      return this.readToken(username, id);
    });
    this.deleteTokenTx = immediate((username: string, id: string, at: number) => {
      const deleted = this.stmt(SQL.deleteToken).get(id, username) as { token_hash: string } | undefined;
      if (deleted === undefined) return false;
      this.stmt(SQL.releaseTokenSlot).run(username);
      this.stmt(SQL.appendChange).run(id, 'delete', at, deleted.token_hash);
      return true;
    });
    this.replaceDefaultTx = immediate((username: string, oldId: string, replacement: TokenRecord, at: number) => {
      const deleted = this.stmt(SQL.deleteDefaultToken).get(oldId, username) as { token_hash: string } | undefined;
      if (deleted === undefined) return false;
      this.stmt(SQL.insertToken).run(toTokenRow(replacement));
      this.stmt(SQL.appendChange).run(oldId, 'delete', at, deleted.token_hash);
      return true;
    });
    this.setDefaultScopesTx = immediate((scopes: readonly string[], at: number) => {
      const rows = this.stmt(SQL.setDefaultScopes).all({ scopes: JSON.stringify(scopes), at }) as { id: string }[];
      const ids = rows.map((row) => row.id).sort();
      for (const id of ids) this.stmt(SQL.appendChange).run(id, 'update', at, null);
      return ids.length;
    });
    this.addKeyTx = immediate((key: SigningKeyRecord) => {
      this.stmt(SQL.retireKeys).run(key.created);
      this.stmt(SQL.insertKey).run(key.id, key.sealedKey, key.created, key.retired);
    });
  }

  /** The connection's settings as SQLite reports them. */
  pragmas(): SqlitePragmas {
    return {
      busyTimeout: Number(this.db.pragma('busy_timeout', { simple: true })),
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.db.pragma('synchronous', { simple: true })),
      foreignKeys: Number(this.db.pragma('foreign_keys', { simple: true })),
    };
  }

  /** Runs under the write lock, so two processes opening a fresh file apply each migration once. */
  async migrate(): Promise<MigrationResult> {
    return { applied: this.migrateTx() };
  }

  async ping(): Promise<void> {
    this.stmt(SQL.ping).get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
    this.statements.clear();
  }

  async createAccount(account: AccountRecord, defaultToken: TokenRecord): Promise<boolean> {
    if (defaultToken.username !== account.username || !defaultToken.isDefault) {
      throw new TypeError('createAccount needs a default token of the same account');
    }
    return this.createAccountTx(account, defaultToken);
  }

  async getAccount(username: string): Promise<AccountRecord | null> {
    const row = this.stmt(SQL.getAccount).get(username) as AccountRecord | undefined;
    return row === undefined ? null : Object.freeze({ username: row.username, created: row.created });
  }

  async listAccounts(): Promise<AccountRecord[]> {
    const rows = this.stmt(SQL.listAccounts).all() as AccountRecord[];
    return rows.map((row) => Object.freeze({ username: row.username, created: row.created }));
  }

  async insertToken(token: TokenRecord, maxTokens: number): Promise<boolean> {
    return this.insertTokenTx(token, maxTokens);
  }

  async findTokenByHash(tokenHash: string): Promise<TokenRecord | null> {
    const row = this.stmt(SQL.tokenByHash).get(tokenHash) as TokenRow | undefined;
    return row === undefined ? null : fromTokenRow(row);
  }

  async getToken(username: string, id: string): Promise<TokenRecord | null> {
    return this.readToken(username, id);
  }

  async tokenExists(id: string): Promise<boolean> {
    return this.stmt(SQL.tokenExists).get(id) !== undefined;
  }

  async deletedTokenHash(id: string): Promise<string | null> {
    const row = this.stmt(SQL.deletedHash).get(id) as { token_hash: string | null } | undefined;
    return row?.token_hash ?? null;
  }

  async listTokens(username: string, query: ListQuery): Promise<TokenRecord[]> {
    // SQLite reads LIMIT -1 as "no limit"; the port's limit is a page size, so < 1 is empty.
    if (!(query.limit >= 1)) return [];
    const params = {
      username,
      usage: query.usage ?? null,
      isDefault: query.isDefault === undefined ? null : Number(query.isDefault),
      limit: Math.floor(query.limit),
      ...(query.after === null ? {} : { sortValue: query.after.sortValue, id: query.after.id }),
    };
    const rows = this.stmt(listTokensSql(query.sortBy, query.after !== null)).all(params) as TokenRow[];
    return rows.map(fromTokenRow);
  }

  async updateToken(username: string, id: string, patch: TokenPatch, modified: number): Promise<TokenRecord | null> {
    return this.updateTokenTx(username, id, patch, modified);
  }

  async deleteToken(username: string, id: string, at: number): Promise<boolean> {
    return this.deleteTokenTx(username, id, at);
  }

  async replaceDefaultToken(username: string, oldId: string, replacement: TokenRecord, at: number): Promise<boolean> {
    if (replacement.username !== username || !replacement.isDefault) {
      throw new TypeError('replaceDefaultToken needs a default token of the same account');
    }
    return this.replaceDefaultTx(username, oldId, replacement, at);
  }

  async setDefaultTokenScopes(scopes: readonly string[], at: number): Promise<number> {
    return this.setDefaultScopesTx(scopes, at);
  }

  async changesSince(afterSeq: number, limit: number): Promise<TokenChange[]> {
    if (!(limit >= 1)) return [];
    const rows = this.stmt(SQL.changesSince).all(afterSeq, Math.floor(limit)) as ChangeRow[];
    return rows.map((row) => Object.freeze({ seq: row.seq, tokenId: row.token_id, kind: row.kind, at: row.at }));
  }

  async recentDeletes(sinceAt: number): Promise<TokenChange[]> {
    const rows = this.stmt(SQL.recentDeletes).all(sinceAt) as ChangeRow[];
    return rows.map((r) => ({ seq: r.seq, tokenId: r.token_id, kind: r.kind, at: r.at }));
  }

  async latestChangeSeq(): Promise<number> {
    return (this.stmt(SQL.latestSeq).get() as { seq: number }).seq;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = this.stmt(SQL.listKeys).all() as KeyRow[];
    return rows.map((row) =>
      Object.freeze({ id: row.id, sealedKey: row.sealed_key, created: row.created, retired: row.retired }),
    );
  }

  async addSigningKey(key: SigningKeyRecord): Promise<void> {
    this.addKeyTx(key);
  }

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private readToken(username: string, id: string): TokenRecord | null {
    const row = this.stmt(SQL.tokenById).get(id, username) as TokenRow | undefined;
    return row === undefined ? null : fromTokenRow(row);
  }

  private applyPendingMigrations(): string[] {
    this.db.exec(MIGRATIONS_TABLE_SQL);
    const rows = this.stmt(SQL.appliedMigrations).all() as { name: string }[];
    const done = new Set(rows.map((row) => row.name));
    const applied: string[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.name)) continue;
      this.db.exec(migration.sql);
      this.stmt(SQL.recordMigration).run(migration.name, Date.now());
      applied.push(migration.name);
    }
    return applied;
  }
}

/** Opens `<dataDir>/tokenbox.db`, creating the directory if it is missing. */
export function openSqliteStore(dataDir: string): SqliteStore {
  mkdirSync(dataDir, { recursive: true });
  return SqliteStore.open(join(dataDir, 'tokenbox.db'));
}

/**
 * `journal_mode = WAL` on a fresh file needs an exclusive lock and does not wait through
 * busy_timeout: when several processes open a new data directory at the same moment (`serve` and
 * a CLI command), the losers get SQLITE_BUSY at once. They retry for up to BUSY_TIMEOUT_MS.
 */
function switchToWal(db: Database.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

function configure(db: Database.Database): void {
  // busy_timeout first: another process (a CLI command beside `serve`) may hold a lock, and
  // every later statement, including the switch to WAL on a fresh file, should wait for it
  // rather than fail at once with SQLITE_BUSY.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // WAL: readers never block the writer nor the writer readers, so verification reads and the
  // change-log poll keep flowing during writes. The mode is stored in the file.
  switchToWal(db);
  // NORMAL in WAL mode survives a process crash; a power cut may lose the last commits but
  // never corrupts the file. FULL would fsync on every commit, on the token write path.
  db.pragma('synchronous = NORMAL');
  // Off by default and per connection: without it `tokens.username → accounts` is not enforced.
  db.pragma('foreign_keys = ON');
}
