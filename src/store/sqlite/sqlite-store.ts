/**
 * The SQLite backend: one file in the data directory (`tokenbox.db`), one connection per
 * process (an export or an import opens one more for its own transaction: sqlite-transfer.ts). Several processes may share the file (`serve` plus CLI commands); every write runs in
 * an IMMEDIATE transaction, so it takes the write lock before it reads anything and a
 * check-then-write (the token limit, "is this the default token") cannot interleave with another
 * process's write.
 *
 * better-sqlite3 is synchronous, so a lock held by another process would stop this process's
 * event loop for as long as SQLite waits. Every method therefore runs its statement or
 * transaction through `retryWhileLocked`: SQLite itself waits at most BUSY_TIMEOUT_MS, and the
 * rest of the wait (up to `lockWaitMs`, default 5 s, then AppError('unavailable')) happens
 * between turns of the event loop. A call that fails this way has written nothing.
 */
import type Database from 'better-sqlite3';
import type {
  AccountCursor,
  AccountOverview,
  AccountRecord,
  AdminKeyRecord,
  AuditEntry,
  AuditEntryInput,
  AuditQuery,
  DailyUsage,
  IdempotencyRecord,
  InsertOnceResult,
  ListQuery,
  MigrationResult,
  PruneResult,
  SessionRecord,
  SigningKeyRecord,
  Store,
  TokenChange,
  TokenPatch,
  TokenRecord,
  UsageIncrement,
} from '../port.js';
import { applyPatch, assertDefaultTokenOf, assertUsageBatch, takePage, tokenUpdateChanges } from '../port.js';
import { AUDIT_SQL, fromAuditRow, listAuditSql, toAuditRow, type AuditRow } from './audit-row.js';
import { openDatabase, preparePrivateFiles } from './connection.js';
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from './migrations.js';
import { LOCK_WAIT_MS, retryWhileLocked } from './retry-while-locked.js';
import { beginSqliteImport, exportSqliteRecords } from './sqlite-transfer.js';
import { StatementCache } from './statement-cache.js';
import { listTokensSql, SQL } from './statements.js';
import { fromTokenRow, storedRowSize, toTokenRow, type TokenRow } from './token-row.js';
import {
  fromIdempotencyRow,
  toAdminKey,
  toChange,
  toOverview,
  toSession,
  toSigningKey,
  type AdminKeyRow,
  type ChangeRow,
  type IdempotencyRow,
  type KeyRow,
  type OverviewRow,
  type SessionRow,
} from './record-rows.js';
import type { TransferableStore, TransferRecord } from '../transfer.js';

export { listTokensSql };

export interface SqliteOpenOptions {
  /**
   * How long a call waits, asynchronously, for a lock another process holds before it fails
   * with AppError('unavailable'), in ms. Default LOCK_WAIT_MS (5 s); tests shorten it.
   */
  readonly lockWaitMs?: number;
}

/** What `pragmas()` reports: the connection settings `open` chose (for diagnostics and tests). */
export interface SqlitePragmas {
  readonly busyTimeout: number;
  readonly journalMode: string;
  readonly synchronous: number;
  readonly foreignKeys: number;
}

/** An audit entry to write with a change, or none. */
type Audit = AuditEntryInput | undefined;

/** Rows one prune step removes: one short write transaction each. */
const PRUNE_BATCH = 5_000;

export class SqliteStore implements Store, TransferableStore {
  private readonly db: Database.Database;
  private readonly lockWaitMs: number;
  /** Statements are prepared on first use (the tables may not exist before `migrate`), then reused. */
  private readonly statements: StatementCache;
  private readonly migrateTx: () => string[];
  private readonly createAccountTx: (account: AccountRecord, token: TokenRecord, passwordHash: string | null, audit: readonly AuditEntryInput[]) => boolean;
  private readonly insertTokenTx: (token: TokenRecord, maxTokens: number, audit: Audit) => boolean;
  private readonly insertOnceTx: (token: TokenRecord, maxTokens: number, once: IdempotencyRecord, audit: Audit) => InsertOnceResult;
  private readonly setPasswordTx: (username: string, passwordHash: string, audit: Audit) => boolean;
  private readonly setDisabledTx: (username: string, disabled: boolean, at: number, audit: Audit) => boolean;
  private readonly deleteAccountTx: (username: string, at: number, audit: Audit) => boolean;
  private readonly updateTokenTx: (username: string, id: string, patch: TokenPatch, modified: number, audit: Audit) => TokenRecord | null;
  private readonly deleteTokenTx: (username: string, id: string, at: number, audit: Audit) => boolean;
  private readonly replaceDefaultTx: (username: string, oldId: string, replacement: TokenRecord, at: number, audit: Audit) => boolean;
  private readonly setDefaultScopesTx: (scopes: readonly string[], at: number) => number;
  private readonly addKeyTx: (key: SigningKeyRecord, audit: Audit) => void;
  private readonly insertAdminKeyTx: (key: AdminKeyRecord, audit: Audit) => void;
  private readonly deleteAdminKeyTx: (id: string, audit: Audit) => boolean;
  private readonly createSessionTx: (session: SessionRecord, audit: Audit) => boolean;
  private readonly deleteSessionTx: (idHash: string, audit: Audit) => void;
  private readonly addUsageTx: (batch: readonly UsageIncrement[]) => void;

  /** Opens (creating if missing) the database file and configures the connection. */
  static open(filePath: string, options: SqliteOpenOptions = {}): SqliteStore {
    const lockWaitMs = options.lockWaitMs ?? LOCK_WAIT_MS;
    return new SqliteStore(openDatabase(filePath, lockWaitMs), lockWaitMs);
  }

  private constructor(db: Database.Database, lockWaitMs: number) {
    this.db = db;
    this.lockWaitMs = lockWaitMs;
    this.statements = new StatementCache(db);
    // `.immediate`: take the write lock at BEGIN. A deferred transaction that reads and then
    // writes can fail with SQLITE_BUSY_SNAPSHOT when another process wrote in between, and
    // no wait can help with that; IMMEDIATE asks for the lock first, so a busy lock fails at
    // BEGIN, before anything ran, and the whole transaction can be retried.
    const immediate = <A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) => {
      const tx = db.transaction(fn);
      return (...args: A) => tx.immediate(...args);
    };
    this.migrateTx = immediate(() => this.applyPendingMigrations());
    this.createAccountTx = immediate((account: AccountRecord, token: TokenRecord, passwordHash: string | null, audit: readonly AuditEntryInput[]) => {
      if (this.stmt(SQL.getAccount).get(account.username) !== undefined) return false;
      this.stmt(SQL.insertAccount).run(account.username, account.created, passwordHash);
      this.stmt(SQL.insertToken).run(toTokenRow(token));
      for (const entry of audit) this.writeAudit(entry);
      return true;
    });
    this.insertTokenTx = immediate((token: TokenRecord, maxTokens: number, audit: Audit) => {
      const claimed = this.stmt(SQL.claimTokenSlot).run(token.username, maxTokens).changes === 1;
      // Not claimed: the account is full, or missing (then the insert below fails on its key).
      if (!claimed && this.stmt(SQL.getAccount).get(token.username) !== undefined) return false;
      this.stmt(SQL.insertToken).run(toTokenRow(token));
      this.writeAudit(audit);
      return true;
    });
    this.insertOnceTx = immediate((token: TokenRecord, maxTokens: number, once: IdempotencyRecord, audit: Audit): InsertOnceResult => {
      const recorded = this.stmt(SQL.findIdempotencyKey).get(token.username, once.key) as IdempotencyRow | undefined;
      if (recorded !== undefined) return { kind: 'replay', record: fromIdempotencyRow(recorded) };
      if (!this.insertTokenTx(token, maxTokens, audit)) return { kind: 'full' };
      this.stmt(SQL.insertIdempotencyKey).run({ username: token.username, ...once });
      return { kind: 'inserted' };
    });
    this.setDisabledTx = immediate((username: string, disabled: boolean, at: number, audit: Audit) => {
      if (this.stmt(SQL.getAccount).get(username) === undefined) return false;
      if (this.stmt(SQL.setAccountDisabled).run({ username, disabled: Number(disabled) }).changes === 0) return true;
      const rows = this.stmt(SQL.tokenIdsOf).all(username) as { id: string }[];
      for (const { id } of rows) this.stmt(SQL.appendChange).run(id, 'update', at, null);
      this.writeAudit(audit);
      return true;
    });
    this.deleteAccountTx = immediate((username: string, at: number, audit: Audit) => {
      if (this.stmt(SQL.getAccount).get(username) === undefined) return false;
      const rows = this.stmt(SQL.deleteTokensOf).all(username) as { id: string; token_hash: string }[];
      for (const row of rows.sort((a, b) => (a.id < b.id ? -1 : 1))) this.stmt(SQL.appendChange).run(row.id, 'delete', at, row.token_hash);
      // Sessions and Idempotency-Keys go with the account (ON DELETE CASCADE).
      this.stmt(SQL.deleteAccount).run(username);
      this.writeAudit(audit);
      return true;
    });
    this.setPasswordTx = immediate((username: string, passwordHash: string, audit: Audit) => {
      if (this.stmt(SQL.setPasswordHash).run(passwordHash, username).changes === 0) return false;
      this.stmt(SQL.deleteSessionsOf).run(username);
      this.writeAudit(audit);
      return true;
    });
    this.updateTokenTx = immediate((username: string, id: string, patch: TokenPatch, modified: number, audit: Audit) => {
      const current = this.readToken(username, id);
      if (current === null) return null;
      const patched = applyPatch(current, patch, modified);
      const next = toTokenRow(patched);
      this.stmt(SQL.updateToken).run({
        id,
        note: next.note,
        scopes: next.scopes,
        allowed_urls: next.allowed_urls,
        allowed_applications: next.allowed_applications,
        modified,
      });
      this.stmt(SQL.appendChange).run(id, 'update', modified, null);
      if (audit !== undefined) this.writeAudit({ ...audit, details: { ...audit.details, ...tokenUpdateChanges(current, patched) } });
      return this.readToken(username, id);
    });
    this.deleteTokenTx = immediate((username: string, id: string, at: number, audit: Audit) => {
      const deleted = this.stmt(SQL.deleteToken).get(id, username) as { token_hash: string } | undefined;
      if (deleted === undefined) return false;
      this.stmt(SQL.releaseTokenSlot).run(username);
      this.stmt(SQL.appendChange).run(id, 'delete', at, deleted.token_hash);
      this.writeAudit(audit);
      return true;
    });
    this.replaceDefaultTx = immediate((username: string, oldId: string, replacement: TokenRecord, at: number, audit: Audit) => {
      const deleted = this.stmt(SQL.deleteDefaultToken).get(oldId, username) as { token_hash: string } | undefined;
      if (deleted === undefined) return false;
      this.stmt(SQL.insertToken).run(toTokenRow(replacement));
      this.stmt(SQL.appendChange).run(oldId, 'delete', at, deleted.token_hash);
      this.writeAudit(audit);
      return true;
    });
    this.setDefaultScopesTx = immediate((scopes: readonly string[], at: number) => {
      const rows = this.stmt(SQL.setDefaultScopes).all({ scopes: JSON.stringify(scopes), at }) as { id: string }[];
      const ids = rows.map((row) => row.id).sort();
      for (const id of ids) this.stmt(SQL.appendChange).run(id, 'update', at, null);
      return ids.length;
    });
    this.addKeyTx = immediate((key: SigningKeyRecord, audit: Audit) => {
      this.stmt(SQL.retireKeys).run(key.created);
      this.stmt(SQL.insertKey).run(key.id, key.sealedKey, key.created, key.retired);
      this.stmt(SQL.appendChange).run(key.id, 'key', key.created, null);
      this.writeAudit(audit);
    });
    this.insertAdminKeyTx = immediate((key: AdminKeyRecord, audit: Audit) => {
      this.stmt(SQL.insertAdminKey).run({ id: key.id, note: key.note, keyHash: key.keyHash, created: key.created });
      this.writeAudit(audit);
    });
    this.deleteAdminKeyTx = immediate((id: string, audit: Audit) => {
      if (this.stmt(SQL.deleteAdminKey).run(id).changes !== 1) return false;
      this.writeAudit(audit);
      return true;
    });
    this.createSessionTx = immediate((session: SessionRecord, audit: Audit) => {
      // The foreign key refuses a session of a missing account; say so as a value.
      if (this.stmt(SQL.getAccount).get(session.username) === undefined) return false;
      this.stmt(SQL.insertSession).run({ ...session });
      this.writeAudit(audit);
      return true;
    });
    this.deleteSessionTx = immediate((idHash: string, audit: Audit) => {
      if (this.stmt(SQL.deleteSession).run(idHash).changes === 1) this.writeAudit(audit);
    });
    this.addUsageTx = immediate((batch: readonly UsageIncrement[]) => {
      for (const { tokenId, day, count, lastUsed } of batch) {
        this.stmt(SQL.addUsage).run({ tokenId, day, count });
        this.stmt(SQL.raiseLastUsed).run({ tokenId, lastUsed });
      }
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

  /**
   * Runs under the write lock, so two processes opening a fresh file apply each migration once;
   * waits for a lock like any write (a CLI command may be writing as `serve` starts).
   */
  async migrate(): Promise<MigrationResult> {
    return { applied: await this.run(this.migrateTx) };
  }

  async ping(): Promise<void> {
    await this.run(() => this.stmt(SQL.ping).get());
  }

  /** On a read-only connection of its own, one snapshot for every page (sqlite-transfer.ts says why). */
  exportRecords(pageSize?: number): AsyncIterable<TransferRecord> {
    return exportSqliteRecords(this.db.name, this.lockWaitMs, pageSize);
  }

  /** On a connection of its own, holding the write lock until `commit` or `abort`: run it with `serve` stopped. */
  beginImport(): ReturnType<TransferableStore['beginImport']> {
    return beginSqliteImport(this.db.name, this.lockWaitMs);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
    this.statements.clear();
  }

  async createAccount(
    account: AccountRecord,
    defaultToken: TokenRecord,
    passwordHash: string | null = null,
    audit: readonly AuditEntryInput[] = [],
  ): Promise<boolean> {
    assertDefaultTokenOf(account, defaultToken);
    return this.run(() => this.createAccountTx(account, defaultToken, passwordHash, audit));
  }

  async getAccount(username: string): Promise<AccountRecord | null> {
    const row = await this.run(() => this.stmt(SQL.getAccount).get(username) as AccountRecord | undefined);
    return row === undefined ? null : Object.freeze({ username: row.username, created: row.created });
  }

  async listAccounts(): Promise<AccountRecord[]> {
    const rows = await this.run(() => this.stmt(SQL.listAccounts).all() as AccountRecord[]);
    return rows.map((row) => Object.freeze({ username: row.username, created: row.created }));
  }

  async getAccountOverview(username: string): Promise<AccountOverview | null> {
    const row = await this.run(() => this.stmt(SQL.accountOverview).get(username) as OverviewRow | undefined);
    return row === undefined ? null : toOverview(row);
  }

  async listAccountOverviews(after: AccountCursor | null, limit: number): Promise<AccountOverview[]> {
    // SQLite reads LIMIT -1 as "no limit"; the port's limit is a page size, so < 1 is empty.
    if (!(limit >= 1)) return [];
    const size = Math.floor(limit);
    const rows = await this.run(
      () =>
        (after === null
          ? this.stmt(SQL.accountOverviewsFirst).all(size)
          : this.stmt(SQL.accountOverviewsAfter).all({ created: after.created, username: after.username, limit: size })) as OverviewRow[],
    );
    return rows.map(toOverview);
  }

  async insertAdminKey(key: AdminKeyRecord, audit?: AuditEntryInput): Promise<void> {
    await this.run(() => this.insertAdminKeyTx(key, audit));
  }

  async findAdminKeyByHash(keyHash: string): Promise<AdminKeyRecord | null> {
    const row = await this.run(() => this.stmt(SQL.adminKeyByHash).get(keyHash) as AdminKeyRow | undefined);
    return row === undefined ? null : toAdminKey(row);
  }

  async listAdminKeys(): Promise<AdminKeyRecord[]> {
    const rows = await this.run(() => this.stmt(SQL.listAdminKeys).all() as AdminKeyRow[]);
    return rows.map(toAdminKey);
  }

  async deleteAdminKey(id: string, audit?: AuditEntryInput): Promise<boolean> {
    return this.run(() => this.deleteAdminKeyTx(id, audit));
  }

  async insertToken(token: TokenRecord, maxTokens: number, audit?: AuditEntryInput): Promise<boolean> {
    return this.run(() => this.insertTokenTx(token, maxTokens, audit));
  }

  async setAccountDisabled(username: string, disabled: boolean, at: number, audit?: AuditEntryInput): Promise<boolean> {
    return this.run(() => this.setDisabledTx(username, disabled, at, audit));
  }

  async deleteAccount(username: string, at: number, audit?: AuditEntryInput): Promise<boolean> {
    return this.run(() => this.deleteAccountTx(username, at, audit));
  }

  /** One IMMEDIATE transaction (the nested insertToken one joins it): look up, claim, insert, record. */
  async insertTokenOnce(token: TokenRecord, maxTokens: number, once: IdempotencyRecord, audit?: AuditEntryInput): Promise<InsertOnceResult> {
    return this.run(() => this.insertOnceTx(token, maxTokens, once, audit));
  }

  async getPasswordHash(username: string): Promise<string | null> {
    const row = await this.run(() => this.stmt(SQL.getPasswordHash).get(username) as { password_hash: string | null } | undefined);
    return row?.password_hash ?? null;
  }

  async setPasswordHash(username: string, passwordHash: string, audit?: AuditEntryInput): Promise<boolean> {
    return this.run(() => this.setPasswordTx(username, passwordHash, audit));
  }

  async createSession(session: SessionRecord, audit?: AuditEntryInput): Promise<boolean> {
    return this.run(() => this.createSessionTx(session, audit));
  }

  async findSession(idHash: string, now: number): Promise<SessionRecord | null> {
    const row = await this.run(() => this.stmt(SQL.findSession).get(idHash, now) as SessionRow | undefined);
    return row === undefined ? null : toSession(row);
  }

  async deleteSession(idHash: string, audit?: AuditEntryInput): Promise<void> {
    await this.run(() => this.deleteSessionTx(idHash, audit));
  }

  async pruneExpired(now: number, idempotencyBefore: number): Promise<PruneResult> {
    const sessions = (await this.run(() => this.stmt(SQL.pruneSessions).run(now))).changes;
    const idempotencyKeys = (await this.run(() => this.stmt(SQL.pruneIdempotencyKeys).run(idempotencyBefore))).changes;
    return { sessions, idempotencyKeys };
  }

  async findTokenByHash(tokenHash: string): Promise<TokenRecord | null> {
    const row = await this.run(() => this.stmt(SQL.tokenByHash).get(tokenHash) as TokenRow | undefined);
    return row === undefined ? null : fromTokenRow(row);
  }

  async getToken(username: string, id: string): Promise<TokenRecord | null> {
    return this.run(() => this.readToken(username, id));
  }

  async findTokenById(id: string): Promise<TokenRecord | null> {
    const row = await this.run(() => this.stmt(SQL.tokenByIdAnyAccount).get(id) as TokenRow | undefined);
    return row === undefined ? null : fromTokenRow(row);
  }

  async deletedTokenHash(id: string): Promise<string | null> {
    const row = await this.run(() => this.stmt(SQL.deletedHash).get(id) as { token_hash: string | null } | undefined);
    return row?.token_hash ?? null;
  }

  /**
   * Steps through the rows with a cursor and stops at the page's end (takePage), weighing each
   * raw row before parsing it: a page of tokens holding megabytes of allowed URLs reads and
   * parses about `maxBytes`, not `limit` rows' worth.
   */
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
    const sql = listTokensSql(query.sortBy, query.after !== null);
    const rows = await this.run(() => takePage(this.stmt(sql).iterate(params) as IterableIterator<TokenRow>, query, storedRowSize));
    return rows.map(fromTokenRow);
  }

  async updateToken(username: string, id: string, patch: TokenPatch, modified: number, audit?: AuditEntryInput): Promise<TokenRecord | null> {
    return this.run(() => this.updateTokenTx(username, id, patch, modified, audit));
  }

  async deleteToken(username: string, id: string, at: number, audit?: AuditEntryInput): Promise<boolean> {
    return this.run(() => this.deleteTokenTx(username, id, at, audit));
  }

  async replaceDefaultToken(username: string, oldId: string, replacement: TokenRecord, at: number, audit?: AuditEntryInput): Promise<boolean> {
    if (replacement.username !== username || !replacement.isDefault) {
      throw new TypeError('replaceDefaultToken needs a default token of the same account');
    }
    return this.run(() => this.replaceDefaultTx(username, oldId, replacement, at, audit));
  }

  async setDefaultTokenScopes(scopes: readonly string[], at: number): Promise<number> {
    return this.run(() => this.setDefaultScopesTx(scopes, at));
  }

  async changesSince(afterSeq: number, limit: number): Promise<TokenChange[]> {
    if (!(limit >= 1)) return [];
    const rows = await this.run(() => this.stmt(SQL.changesSince).all(afterSeq, Math.floor(limit)) as ChangeRow[]);
    return rows.map(toChange);
  }

  async recentDeletes(sinceAt: number): Promise<TokenChange[]> {
    const rows = await this.run(() => this.stmt(SQL.recentDeletes).all(sinceAt) as ChangeRow[]);
    return rows.map(toChange);
  }

  async latestChangeSeq(): Promise<number> {
    return (await this.run(() => this.stmt(SQL.latestSeq).get() as { seq: number })).seq;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.run(() => this.stmt(SQL.listKeys).all() as KeyRow[]);
    return rows.map(toSigningKey);
  }

  async addSigningKey(key: SigningKeyRecord, audit?: AuditEntryInput): Promise<void> {
    await this.run(() => this.addKeyTx(key, audit));
  }

  async appendAudit(entry: AuditEntryInput): Promise<void> {
    await this.run(() => this.writeAudit(entry));
  }

  async listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    // SQLite reads LIMIT -1 as "no limit"; the port's limit is a page size, so < 1 is empty.
    if (!(query.limit >= 1)) return [];
    const params = {
      before: query.before ?? Number.MAX_SAFE_INTEGER,
      limit: Math.floor(query.limit),
      ...(query.account !== undefined && { account: query.account }),
      ...(query.action !== undefined && { action: query.action }),
    };
    const rows = await this.run(() => this.stmt(listAuditSql(query)).all(params) as AuditRow[]);
    return rows.map(fromAuditRow);
  }

  async pruneAudit(before: number): Promise<number> {
    return this.pruneInBatches(AUDIT_SQL.pruneBatch, before);
  }

  async pruneChanges(before: number): Promise<number> {
    return this.pruneInBatches(SQL.pruneChangesBatch, before);
  }

  /** One machine: whichever process runs a job, running it twice removes nothing twice. */
  async runExclusive(_job: string, run: () => Promise<void>): Promise<boolean> {
    await run();
    return true;
  }

  /** Runs a batched `DELETE` statement (bound: `before`, batch size) until a batch comes back short. */
  private async pruneInBatches(sql: string, before: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const batch = (await this.run(() => this.stmt(sql).run(before, PRUNE_BATCH))).changes;
      removed += batch;
      if (batch < PRUNE_BATCH) return removed;
    }
  }

  /** One IMMEDIATE transaction, retried whole (asynchronously) while another process holds the lock. */
  async addUsage(batch: readonly UsageIncrement[]): Promise<void> {
    assertUsageBatch(batch);
    if (batch.length === 0) return;
    await this.run(() => this.addUsageTx(batch));
  }

  async usageByDay(tokenId: string, fromDay: number, toDay: number): Promise<DailyUsage[]> {
    const rows = await this.run(() => this.stmt(SQL.usageByDay).all(tokenId, fromDay, toDay) as DailyUsage[]);
    return rows.map(({ day, count }) => Object.freeze({ day, count }));
  }

  /**
   * Every statement and transaction goes through here. Reads in WAL mode take no write lock,
   * but can still meet SQLITE_BUSY (a WAL recovery after a crash, a closing connection's
   * checkpoint), so they wait the same way as writes.
   */
  private run<R>(attempt: () => R): Promise<R> {
    return retryWhileLocked(attempt, this.lockWaitMs);
  }

  /** Inside a transaction: the entry of the change this transaction makes, if any. */
  private writeAudit(entry: AuditEntryInput | undefined): void {
    if (entry !== undefined) this.stmt(AUDIT_SQL.insert).run(toAuditRow(entry));
  }

  private stmt(sql: string): Database.Statement {
    return this.statements.get(sql);
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

/**
 * Opens `<dataDir>/tokenbox.db`, creating the directory (0700) and the file (0600) if missing,
 * and narrowing an existing database file that others could read (SPEC §2).
 */
export function openSqliteStore(dataDir: string, options: SqliteOpenOptions = {}): SqliteStore {
  return SqliteStore.open(preparePrivateFiles(dataDir), options);
}
