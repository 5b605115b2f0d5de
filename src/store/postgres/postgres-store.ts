/**
 * The PostgreSQL backend: one database shared by every node (SPEC §7), reached through a pool.
 * Nothing connects until the first call.
 *
 * Every method is one statement (autocommit) or one READ COMMITTED transaction. SQLite's single
 * writer makes a check-then-write safe for free; here each one says how it is safe under
 * concurrent connections: a conditional UPDATE that re-checks the committed row (`claimTokenSlot`),
 * `ON CONFLICT`, or a row lock (`FOR UPDATE` / `FOR SHARE`) taken before the check, so a second
 * writer queues behind the first and then reads what it committed. Transactions that append to
 * the change log take its advisory lock last (transaction.ts, `appendChanges`), which keeps seqs
 * visible in order. A deadlock is retried whole. Driver errors reach callers in the catalogue's
 * words (pg-errors.ts): a database that cannot answer is AppError('unavailable').
 */
import type { Pool, PoolClient } from 'pg';
import type {
  AccountCursor,
  AccountOverview,
  AccountRecord,
  AdminKeyRecord,
  AuditEntry,
  AuditEntryInput,
  AuditQuery,
  ChangeKind,
  DailyUsage,
  IdempotencyRecord,
  InsertOnceResult,
  ListCursor,
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
import type { TransferableStore, TransferRecord } from '../transfer.js';
import { fromAuditRow, type AuditRow } from '../sqlite/audit-row.js';
import { fromTokenRow, storedRowSize, toTokenRow, type TokenRow } from '../sqlite/token-row.js';
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
} from '../sqlite/record-rows.js';
import { ChangeListener } from './change-listener.js';
import { createPool, guardHeldClient, listenClientConfig, type PostgresOpenOptions } from './connection.js';
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from './migrations.js';
import { closedStore, translate } from './pg-errors.js';
import { exportSnapshot, openImport, type BeginImportResult } from './postgres-transfer.js';
import { AUDIT_SQL, listAuditSql, listTokensSql, SQL } from './statements.js';
import { tokenParams } from './rows.js';
import { inTransaction, query, Tx, type ChangeInput } from './transaction.js';

export type { PostgresOpenOptions };

type Audit = AuditEntryInput | undefined;

/** Rows one prune step removes: one short statement each. */
const PRUNE_BATCH = 5_000;
/** A page with a byte budget is read in chunks of this many rows, doubling: see `weighedPage`. */
const FIRST_CHUNK = 16;
const DEFAULT_EXPORT_PAGE = 1_000;

export class PostgresStore implements Store, TransferableStore {
  private readonly pool: Pool;
  private readonly listeners = new Set<ChangeListener>();
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly options: PostgresOpenOptions = {},
  ) {
    this.pool = createPool(url, options);
  }

  /** Under a transaction-scoped advisory lock, so N processes starting on a fresh database migrate once. */
  async migrate(): Promise<MigrationResult> {
    const applied = await this.transaction(async (tx) => {
      // Another node may be migrating: wait for it however long it takes, not lock_timeout.
      await tx.count(SQL.waitForLocks);
      await tx.rows(SQL.migrationLock);
      await tx.count(MIGRATIONS_TABLE_SQL);
      const done = new Set((await tx.rows<{ name: string }>(SQL.appliedMigrations)).map((row) => row.name));
      const names: string[] = [];
      for (const migration of MIGRATIONS) {
        if (done.has(migration.name)) continue;
        await tx.count(migration.sql);
        await tx.count(SQL.recordMigration, [migration.name, Date.now()]);
        names.push(migration.name);
      }
      return names;
    });
    return { applied };
  }

  async ping(): Promise<void> {
    await this.query(SQL.ping);
  }

  /**
   * LISTEN on a dedicated connection (change-listener.ts). `onListening` (beyond the port) is told
   * each time LISTEN is in place. A closed store watches nothing.
   */
  watchChanges(onChange: () => void, onListening?: (reconnected: boolean) => void): () => void {
    if (this.closed) return () => undefined;
    const listener = new ChangeListener(listenClientConfig(this.url, this.options), onChange, onListening);
    this.listeners.add(listener);
    listener.start();
    return () => {
      listener.stop();
      this.listeners.delete(listener);
    };
  }

  /** Stops every watcher and ends the pool (waiting for connections in use); idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.listeners) listener.stop();
    this.listeners.clear();
    await this.pool.end();
  }

  /** ON CONFLICT answers "exists" without an error, also when two creates of one name race. */
  async createAccount(
    account: AccountRecord,
    defaultToken: TokenRecord,
    passwordHash: string | null = null,
    audit: readonly AuditEntryInput[] = [],
  ): Promise<boolean> {
    assertDefaultTokenOf(account, defaultToken);
    return this.transaction(async (tx) => {
      if ((await tx.first(SQL.insertAccount, [account.username, account.created, passwordHash])) === undefined) return false;
      await tx.count(SQL.insertToken, tokenParams(defaultToken));
      for (const entry of audit) await tx.writeAudit(entry);
      return true;
    });
  }

  async getAccount(username: string): Promise<AccountRecord | null> {
    const [row] = await this.query<AccountRecord>(SQL.getAccount, [username]);
    return row === undefined ? null : Object.freeze({ username: row.username, created: row.created });
  }

  async listAccounts(): Promise<AccountRecord[]> {
    const rows = await this.query<AccountRecord>(SQL.listAccounts);
    return rows.map((row) => Object.freeze({ username: row.username, created: row.created }));
  }

  async getAccountOverview(username: string): Promise<AccountOverview | null> {
    const [row] = await this.query<OverviewRow>(SQL.accountOverview, [username]);
    return row === undefined ? null : toOverview(row);
  }

  async listAccountOverviews(after: AccountCursor | null, limit: number): Promise<AccountOverview[]> {
    if (!(limit >= 1)) return [];
    const size = Math.floor(limit);
    const rows =
      after === null
        ? await this.query<OverviewRow>(SQL.accountOverviewsFirst, [size])
        : await this.query<OverviewRow>(SQL.accountOverviewsAfter, [after.created, after.username, size]);
    return rows.map(toOverview);
  }

  /**
   * The account's row is updated first: a concurrent token insert (which claims a slot on that
   * row) waits, so the `update` changes name every token the account holds when it commits.
   */
  async setAccountDisabled(username: string, disabled: boolean, at: number, audit?: AuditEntryInput): Promise<boolean> {
    return this.transaction(async (tx) => {
      if ((await tx.count(SQL.setAccountDisabled, [username, Number(disabled)])) === 0) {
        return (await tx.first(SQL.getAccount, [username])) !== undefined;
      }
      const tokens = await tx.rows<{ id: string }>(SQL.tokenIdsOf, [username]);
      await tx.appendChanges(tokens.map(({ id }) => change(id, 'update', at)));
      await tx.writeAudit(audit);
      return true;
    });
  }

  /** The account row is locked first, so no insert, session or disable of it interleaves. */
  async deleteAccount(username: string, at: number, audit?: AuditEntryInput): Promise<boolean> {
    return this.transaction(async (tx) => {
      if ((await tx.first(SQL.lockAccount, [username])) === undefined) return false;
      const tokens = await tx.rows<{ id: string; token_hash: string }>(SQL.deleteTokensOf, [username]);
      // Sessions and Idempotency-Keys go with the account (ON DELETE CASCADE), usage with its tokens.
      await tx.count(SQL.deleteAccount, [username]);
      tokens.sort((a, b) => (a.id < b.id ? -1 : 1));
      await tx.appendChanges(tokens.map((row) => change(row.id, 'delete', at, row.token_hash)));
      await tx.writeAudit(audit);
      return true;
    });
  }

  async insertToken(token: TokenRecord, maxTokens: number, audit?: AuditEntryInput): Promise<boolean> {
    return this.transaction((tx) => insertTokenIn(tx, token, maxTokens, audit));
  }

  /**
   * The account row is locked before the key is looked up: of concurrent creates with one key, the
   * second waits for the first to commit and then finds its record (a replay), never a duplicate.
   */
  async insertTokenOnce(token: TokenRecord, maxTokens: number, once: IdempotencyRecord, audit?: AuditEntryInput): Promise<InsertOnceResult> {
    return this.transaction(async (tx): Promise<InsertOnceResult> => {
      await tx.rows(SQL.lockAccount, [token.username]);
      const recorded = await tx.first<IdempotencyRow>(SQL.findIdempotencyKey, [token.username, once.key]);
      if (recorded !== undefined) return { kind: 'replay', record: fromIdempotencyRow(recorded) };
      if (!(await insertTokenIn(tx, token, maxTokens, audit))) return { kind: 'full' };
      await tx.count(SQL.insertIdempotencyKey, [token.username, once.key, once.requestHash, once.sealedResponse, once.created]);
      return { kind: 'inserted' };
    });
  }

  async findTokenByHash(tokenHash: string): Promise<TokenRecord | null> {
    return firstToken(await this.query<TokenRow>(SQL.tokenByHash, [tokenHash]));
  }

  async getToken(username: string, id: string): Promise<TokenRecord | null> {
    return firstToken(await this.query<TokenRow>(SQL.tokenById, [id, username]));
  }

  async findTokenById(id: string): Promise<TokenRecord | null> {
    return firstToken(await this.query<TokenRow>(SQL.tokenByIdAnyAccount, [id]));
  }

  async deletedTokenHash(id: string): Promise<string | null> {
    const [row] = await this.query<{ token_hash: string | null }>(SQL.deletedHash, [id]);
    return row?.token_hash ?? null;
  }

  /** One keyset read; with a byte budget, chunks of keyset reads (`weighedPage`). */
  async listTokens(username: string, query: ListQuery): Promise<TokenRecord[]> {
    if (!(query.limit >= 1)) return [];
    const limit = Math.floor(query.limit);
    const rows =
      query.maxBytes === undefined ? await this.tokenRows(username, query, query.after, limit) : await this.weighedPage(username, query, limit, query.maxBytes);
    return rows.map(fromTokenRow);
  }

  /** The token row is locked before it is read, so "before" in the audit entry is what the update replaced. */
  async updateToken(username: string, id: string, patch: TokenPatch, modified: number, audit?: AuditEntryInput): Promise<TokenRecord | null> {
    return this.transaction(async (tx) => {
      const row = await tx.first<TokenRow>(SQL.lockToken, [id, username]);
      if (row === undefined) return null;
      const current = fromTokenRow(row);
      const patched = applyPatch(current, patch, modified);
      const next = toTokenRow(patched);
      const updated = await tx.first<TokenRow>(SQL.updateToken, [id, next.note, next.scopes, next.allowed_urls, next.allowed_applications, modified]);
      await tx.appendChanges([change(id, 'update', modified)]);
      if (audit !== undefined) await tx.writeAudit({ ...audit, details: { ...audit.details, ...tokenUpdateChanges(current, patched) } });
      return updated === undefined ? null : fromTokenRow(updated);
    });
  }

  /** The DELETE's row lock decides concurrent deletes: one finds the row, the others none. */
  async deleteToken(username: string, id: string, at: number, audit?: AuditEntryInput): Promise<boolean> {
    return this.transaction(async (tx) => {
      const deleted = await tx.first<{ token_hash: string }>(SQL.deleteToken, [id, username]);
      if (deleted === undefined) return false;
      await tx.count(SQL.releaseTokenSlot, [username]);
      await tx.appendChanges([change(id, 'delete', at, deleted.token_hash)]);
      await tx.writeAudit(audit);
      return true;
    });
  }

  async replaceDefaultToken(username: string, oldId: string, replacement: TokenRecord, at: number, audit?: AuditEntryInput): Promise<boolean> {
    if (replacement.username !== username || !replacement.isDefault) {
      throw new TypeError('replaceDefaultToken needs a default token of the same account');
    }
    return this.transaction(async (tx) => {
      const deleted = await tx.first<{ token_hash: string }>(SQL.deleteDefaultToken, [oldId, username]);
      if (deleted === undefined) return false;
      await tx.count(SQL.insertToken, tokenParams(replacement));
      await tx.appendChanges([change(oldId, 'delete', at, deleted.token_hash)]);
      await tx.writeAudit(audit);
      return true;
    });
  }

  async setDefaultTokenScopes(scopes: readonly string[], at: number): Promise<number> {
    return this.transaction(async (tx) => {
      const rows = await tx.rows<{ id: string }>(SQL.setDefaultScopes, [JSON.stringify(scopes), at]);
      const ids = rows.map((row) => row.id).sort();
      await tx.appendChanges(ids.map((id) => change(id, 'update', at)));
      return ids.length;
    });
  }

  async getPasswordHash(username: string): Promise<string | null> {
    const [row] = await this.query<{ password_hash: string | null }>(SQL.getPasswordHash, [username]);
    return row?.password_hash ?? null;
  }

  async setPasswordHash(username: string, passwordHash: string, audit?: AuditEntryInput): Promise<boolean> {
    return this.transaction(async (tx) => {
      if ((await tx.count(SQL.setPasswordHash, [username, passwordHash])) === 0) return false;
      await tx.count(SQL.deleteSessionsOf, [username]);
      await tx.writeAudit(audit);
      return true;
    });
  }

  /**
   * FOR SHARE on the account: a concurrent password change (which updates that row, then ends the
   * account's sessions) waits for this session to commit and then ends it too; a concurrent
   * account delete waits likewise.
   */
  async createSession(session: SessionRecord, audit?: AuditEntryInput): Promise<boolean> {
    return this.transaction(async (tx) => {
      if ((await tx.first(SQL.lockAccountShared, [session.username])) === undefined) return false;
      await tx.count(SQL.insertSession, [session.idHash, session.username, session.created, session.expires]);
      await tx.writeAudit(audit);
      return true;
    });
  }

  async findSession(idHash: string, now: number): Promise<SessionRecord | null> {
    const [row] = await this.query<SessionRow>(SQL.findSession, [idHash, now]);
    return row === undefined ? null : toSession(row);
  }

  async deleteSession(idHash: string, audit?: AuditEntryInput): Promise<void> {
    await this.transaction(async (tx) => {
      if ((await tx.count(SQL.deleteSession, [idHash])) === 1) await tx.writeAudit(audit);
    });
  }

  async pruneExpired(now: number, idempotencyBefore: number): Promise<PruneResult> {
    const sessions = await this.statement((tx) => tx.count(SQL.pruneSessions, [now]));
    const idempotencyKeys = await this.statement((tx) => tx.count(SQL.pruneIdempotencyKeys, [idempotencyBefore]));
    return { sessions, idempotencyKeys };
  }

  /** A duplicate id or hash fails the INSERT and rolls the audit entry back with it. */
  async insertAdminKey(key: AdminKeyRecord, audit?: AuditEntryInput): Promise<void> {
    await this.transaction(async (tx) => {
      await tx.count(SQL.insertAdminKey, [key.id, key.note, key.keyHash, key.created]);
      await tx.writeAudit(audit);
    });
  }

  async findAdminKeyByHash(keyHash: string): Promise<AdminKeyRecord | null> {
    const [row] = await this.query<AdminKeyRow>(SQL.adminKeyByHash, [keyHash]);
    return row === undefined ? null : toAdminKey(row);
  }

  async listAdminKeys(): Promise<AdminKeyRecord[]> {
    return (await this.query<AdminKeyRow>(SQL.listAdminKeys)).map(toAdminKey);
  }

  async deleteAdminKey(id: string, audit?: AuditEntryInput): Promise<boolean> {
    return this.transaction(async (tx) => {
      if ((await tx.count(SQL.deleteAdminKey, [id])) !== 1) return false;
      await tx.writeAudit(audit);
      return true;
    });
  }

  async appendAudit(entry: AuditEntryInput): Promise<void> {
    await this.statement((tx) => tx.writeAudit(entry));
  }

  async listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    if (!(query.limit >= 1)) return [];
    const params: unknown[] = [query.before ?? Number.MAX_SAFE_INTEGER, Math.floor(query.limit)];
    if (query.account !== undefined) params.push(query.account);
    if (query.action !== undefined) params.push(query.action);
    return (await this.query<AuditRow>(listAuditSql(query), params)).map(fromAuditRow);
  }

  async pruneAudit(before: number): Promise<number> {
    return this.pruneInBatches(AUDIT_SQL.pruneBatch, before);
  }

  async changesSince(afterSeq: number, limit: number): Promise<TokenChange[]> {
    if (!(limit >= 1)) return [];
    return (await this.query<ChangeRow>(SQL.changesSince, [afterSeq, Math.floor(limit)])).map(toChange);
  }

  async recentDeletes(sinceAt: number): Promise<TokenChange[]> {
    return (await this.query<ChangeRow>(SQL.recentDeletes, [sinceAt])).map(toChange);
  }

  async latestChangeSeq(): Promise<number> {
    const [row] = await this.query<{ seq: number }>(SQL.latestSeq);
    return row?.seq ?? 0;
  }

  async pruneChanges(before: number): Promise<number> {
    return this.pruneInBatches(SQL.pruneChangesBatch, before);
  }

  /**
   * A session-level advisory lock named after the job, on a pooled connection held for the run:
   * another node holding it makes this one skip (false). Released in `finally`, a throwing job
   * included; if the connection itself is lost, the server drops the lock with the session.
   */
  async runExclusive(job: string, run: () => Promise<void>): Promise<boolean> {
    const client = await this.connect();
    const detach = guardHeldClient(client);
    let broken: Error | undefined;
    try {
      const [row] = (
        await client.query<{ taken: boolean }>(SQL.tryJobLock, [job]).catch((error: unknown) => {
          broken = asError(error);
          throw translate(error);
        })
      ).rows;
      if (row?.taken !== true) return false;
      try {
        await run();
      } finally {
        await client.query(SQL.releaseJobLock, [job]).catch((error: unknown) => {
          broken = asError(error);
        });
      }
      return true;
    } finally {
      detach();
      client.release(broken);
    }
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.query<KeyRow>(SQL.listKeys);
    return rows.map(toSigningKey);
  }

  /**
   * Takes the change-log lock FIRST (not last, as other appends do): two rotations are then one
   * after the other, and the second's retire sees the first's key, so exactly one key stays unretired.
   */
  async addSigningKey(key: SigningKeyRecord, audit?: AuditEntryInput): Promise<void> {
    await this.transaction(async (tx) => {
      await tx.rows(SQL.changeLogLock);
      await tx.count(SQL.retireKeys, [key.created]);
      await tx.count(SQL.insertKey, [key.id, key.sealedKey, key.created, key.retired]);
      await tx.appendChanges([change(key.id, 'key', key.created)]);
      await tx.writeAudit(audit);
    });
  }

  /**
   * One transaction, three statements whatever the batch size: the batch is summed per token and
   * day first (one upsert may not touch a row twice), its tokens are locked against a concurrent
   * delete (rows of tokens gone are dropped here), then one upsert and one `last_used` raise.
   */
  async addUsage(batch: readonly UsageIncrement[]): Promise<void> {
    assertUsageBatch(batch);
    if (batch.length === 0) return;
    const counts = new Map<string, { tokenId: string; day: number; count: number }>();
    const lastUsed = new Map<string, number>();
    for (const row of batch) {
      const key = `${row.tokenId}\u0000${row.day}`;
      const sum = counts.get(key);
      if (sum === undefined) counts.set(key, { tokenId: row.tokenId, day: row.day, count: row.count });
      else sum.count += row.count;
      lastUsed.set(row.tokenId, Math.max(lastUsed.get(row.tokenId) ?? row.lastUsed, row.lastUsed));
    }
    await this.transaction(async (tx) => {
      const present = new Set((await tx.rows<{ id: string }>(SQL.lockUsageTokens, [[...lastUsed.keys()]])).map((row) => row.id));
      const rows = [...counts.values()].filter((row) => present.has(row.tokenId));
      if (rows.length === 0) return;
      await tx.count(SQL.addUsage, [rows.map((r) => r.tokenId), rows.map((r) => r.day), rows.map((r) => r.count)]);
      const raised = [...lastUsed].filter(([id]) => present.has(id));
      await tx.count(SQL.raiseLastUsed, [raised.map(([id]) => id), raised.map(([, at]) => at)]);
    });
  }

  async usageByDay(tokenId: string, fromDay: number, toDay: number): Promise<DailyUsage[]> {
    const rows = await this.query<DailyUsage>(SQL.usageByDay, [tokenId, fromDay, toDay]);
    return rows.map(({ day, count }) => Object.freeze({ day, count }));
  }

  /** One REPEATABLE READ READ ONLY transaction on one connection, released when the iteration ends or is closed. */
  exportRecords(pageSize: number = DEFAULT_EXPORT_PAGE): AsyncIterable<TransferRecord> {
    return exportSnapshot(() => this.connect(), pageSize);
  }

  beginImport(): Promise<BeginImportResult> {
    return openImport(() => this.connect());
  }

  /** One page of token rows in keyset order, strictly after `after`. */
  private async tokenRows(username: string, query: ListQuery, after: ListCursor | null, limit: number): Promise<TokenRow[]> {
    const params: unknown[] = [username, query.usage ?? null, query.isDefault === undefined ? null : Number(query.isDefault), limit];
    if (after !== null) params.push(after.sortValue, after.id);
    return this.query<TokenRow>(listTokensSql(query.sortBy, after !== null), params);
  }

  /**
   * A page with a byte budget, cut exactly as SQLite cuts it (`takePage` over raw rows weighed by
   * `storedRowSize` before parsing), but read in keyset chunks (16 rows, doubling) rather than all
   * `limit` rows at once, so a page of 200 KB tokens fetches about `maxBytes`, not `limit` rows'
   * worth. Each chunk is its own read: a token written meanwhile is listed where its chunk finds it
   * and never twice, as between pages.
   */
  private async weighedPage(username: string, query: ListQuery, limit: number, budget: number): Promise<TokenRow[]> {
    const taken: TokenRow[] = [];
    let weight = 0;
    let after = query.after;
    for (let chunk = FIRST_CHUNK; ; chunk *= 2) {
      const want = Math.min(chunk, limit - taken.length);
      const rows = await this.tokenRows(username, query, after, want);
      // Rows taken so far weigh `weight`: the rest of the page is takePage with what is left.
      const page = takePage(rows, { limit: limit - taken.length, maxBytes: budget - weight }, storedRowSize);
      taken.push(...page);
      const last = page.at(-1);
      if (last === undefined || page.length < rows.length || rows.length < want || taken.length >= limit) return taken;
      // takePage took the whole chunk. It stopped at the last row only if the rows before it had
      // already reached the budget: then the page is complete.
      weight += page.reduce((sum, row) => sum + storedRowSize(row), 0) - storedRowSize(last);
      if (weight >= budget) return taken;
      weight += storedRowSize(last);
      after = { sortValue: last[query.sortBy], id: last.id };
    }
  }

  /** Runs a batched `DELETE … LIMIT $2` until a batch comes back short; each batch its own statement. */
  private async pruneInBatches(sql: string, before: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const batch = await this.statement((tx) => tx.count(sql, [before, PRUNE_BATCH]));
      removed += batch;
      if (batch < PRUNE_BATCH) return removed;
    }
  }

  private async query<R>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    if (this.closed) throw closedStore();
    return query<R>(this.pool, sql, params);
  }

  /** One autocommit statement through a Tx's helpers (count, writeAudit). */
  private async statement<R>(work: (tx: Tx) => Promise<R>): Promise<R> {
    if (this.closed) throw closedStore();
    try {
      return await work(new Tx(this.pool));
    } catch (error) {
      throw translate(error);
    }
  }

  private async transaction<R>(work: (tx: Tx) => Promise<R>): Promise<R> {
    if (this.closed) throw closedStore();
    return inTransaction(this.pool, work);
  }

  /** A pooled connection to hold across calls (a job's lock, an export, an import). */
  private async connect(): Promise<PoolClient> {
    if (this.closed) throw closedStore();
    try {
      return await this.pool.connect();
    } catch (error) {
      throw translate(error);
    }
  }
}

/**
 * Opens a PostgreSQL store on `url` (`postgres://user@host:port/db`; `?options=-c%20search_path%3D…`
 * selects a schema). Synchronous and lazy: nothing connects until the first call.
 */
export function openPostgresStore(url: string, options: PostgresOpenOptions = {}): PostgresStore {
  return new PostgresStore(url, options);
}

/**
 * Inside a transaction: claims a slot (the conditional UPDATE waits for, and re-checks, any
 * concurrent claim on the account), then inserts. Not claimed: the account is full, or missing
 * (then the insert fails on its foreign key, a rejection).
 */
async function insertTokenIn(tx: Tx, token: TokenRecord, maxTokens: number, audit: Audit): Promise<boolean> {
  const claimed = (await tx.count(SQL.claimTokenSlot, [token.username, maxTokens])) === 1;
  if (!claimed && (await tx.first(SQL.getAccount, [token.username])) !== undefined) return false;
  await tx.count(SQL.insertToken, tokenParams(token));
  await tx.writeAudit(audit);
  return true;
}

function change(tokenId: string, kind: ChangeKind, at: number, tokenHash: string | null = null): ChangeInput {
  return { tokenId, kind, at, tokenHash };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function firstToken(rows: readonly TokenRow[]): TokenRecord | null {
  const [row] = rows;
  return row === undefined ? null : fromTokenRow(row);
}
