/**
 * Export and import (transfer.ts) for PostgreSQL. An export reads one REPEATABLE READ READ ONLY
 * snapshot on one connection, keyset pages per kind; an import writes everything in one
 * transaction on one connection, with every table locked against writers, then commits.
 */
import type { PoolClient } from 'pg';
import { fromAuditRow, type AuditRow } from '../sqlite/audit-row.js';
import { fromTokenRow, type TokenRow } from '../sqlite/token-row.js';
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
} from '../sqlite/record-rows.js';
import { TRANSFER_ORDER, type ImportWriter, type StoreContents, type TransferKind, type TransferRecord } from '../transfer.js';
import { guardHeldClient } from './connection.js';
import { isRetryable, isUnavailable, translate } from './pg-errors.js';
import { AUDIT_INSERT_COLUMNS, auditParams, TOKEN_INSERT_COLUMNS, tokenParams } from './rows.js';
import { SQL } from './statements.js';

export type BeginImportResult = { readonly empty: true; readonly writer: ImportWriter } | { readonly empty: false; readonly contents: StoreContents };

type Row = Record<string, unknown>;

/** How one kind is read: its first page, the page after a cursor (`$2…`), the cursor of a row, the record of a row. */
interface KindExport {
  readonly first: string;
  readonly after: string;
  readonly cursor: (row: Row) => unknown[];
  readonly record: (row: Row) => TransferRecord;
}

/** Keyset pages on each table's primary key (`$1` is the page size). */
function pages(columns: string, table: string, key: string, where = ''): Pick<KindExport, 'first' | 'after'> {
  const filter = where === '' ? '' : `${where} AND `;
  const keyParams = key
    .split(', ')
    .map((_, i) => `$${i + 2}`)
    .join(', ');
  return {
    first: `SELECT ${columns} FROM ${table} ${where === '' ? '' : `WHERE ${where}`} ORDER BY ${key} LIMIT $1`,
    after: `SELECT ${columns} FROM ${table} WHERE ${filter}(${key}) > (${keyParams}) ORDER BY ${key} LIMIT $1`,
  };
}

const TOKEN_COLUMNS = TOKEN_INSERT_COLUMNS.join(', ');

const EXPORTS: Record<TransferKind, KindExport> = {
  account: {
    ...pages('username, created, password_hash, disabled', 'accounts', 'username'),
    cursor: (row) => [row.username],
    record: (row) => ({
      kind: 'account',
      username: row.username as string,
      created: row.created as number,
      passwordHash: row.password_hash as string | null,
      disabled: row.disabled === 1,
    }),
  },
  token: {
    ...pages(TOKEN_COLUMNS, 'tokens', 'id'),
    cursor: (row) => [row.id],
    record: (row) => ({ kind: 'token', ...fromTokenRow(row as unknown as TokenRow) }),
  },
  usage: {
    ...pages('token_id, day, count', 'token_usage', 'token_id, day'),
    cursor: (row) => [row.token_id, row.day],
    record: (row) => ({ kind: 'usage', ...fromUsageRow(row as unknown as UsageRow) }),
  },
  session: {
    ...pages('id_hash, username, created, expires', 'sessions', 'id_hash'),
    cursor: (row) => [row.id_hash],
    record: (row) => ({ kind: 'session', ...toSession(row as unknown as SessionRow) }),
  },
  signingKey: {
    ...pages('id, sealed_key, created, retired', 'signing_keys', 'id'),
    cursor: (row) => [row.id],
    record: (row) => ({ kind: 'signingKey', ...toSigningKey(row as unknown as KeyRow) }),
  },
  adminKey: {
    ...pages('id, note, key_hash, created', 'admin_keys', 'id'),
    cursor: (row) => [row.id],
    record: (row) => ({ kind: 'adminKey', ...toAdminKey(row as unknown as AdminKeyRow) }),
  },
  delete: {
    ...pages('seq, token_id, at, token_hash', 'token_changes', 'seq', "kind = 'delete' AND token_hash IS NOT NULL"),
    cursor: (row) => [row.seq],
    record: (row) => ({ kind: 'delete', ...fromDeleteRow(row as unknown as DeleteRow) }),
  },
  audit: {
    ...pages('id, at, actor_kind, actor_id, account, action, target, ip, details', 'audit_log', 'id'),
    cursor: (row) => [row.id],
    record: (row) => ({ kind: 'audit', ...fromAuditRow(row as unknown as AuditRow) }),
  },
};

/**
 * Every record in TRANSFER_ORDER from one snapshot. The connection is taken on the first `next()`
 * and given back when the iteration ends, fails, or is closed early (the generator's `finally`).
 */
export async function* exportSnapshot(connect: () => Promise<PoolClient>, pageSize: number): AsyncGenerator<TransferRecord> {
  const size = Math.max(1, Math.floor(pageSize));
  const client = await connect();
  const detach = guardHeldClient(client);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    for (const kind of TRANSFER_ORDER) {
      const spec = EXPORTS[kind];
      let cursor: unknown[] | null = null;
      for (;;) {
        const { rows } = await client.query<Row>(cursor === null ? spec.first : spec.after, [size, ...(cursor ?? [])]);
        for (const row of rows) yield spec.record(row);
        const last = rows.at(-1);
        if (last === undefined || rows.length < size) break;
        cursor = spec.cursor(last);
      }
    }
  } catch (error) {
    if (isUnavailable(error)) broken = error as Error;
    throw translate(error);
  } finally {
    // Read only: ending it with ROLLBACK is as good as COMMIT, and also ends an aborted one.
    if (broken === undefined) await client.query('ROLLBACK').catch((error: unknown) => (broken = error as Error));
    detach();
    client.release(broken);
  }
}

/** Every table, locked EXCLUSIVE for the import: readers go on, writers wait until it ends. */
const TABLES = 'accounts, tokens, token_usage, sessions, idempotency_keys, signing_keys, admin_keys, token_changes, audit_log';
const CONTENTS = `SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM signing_keys) AS signing_keys,
  (SELECT count(*) FROM admin_keys) AS admin_keys, (SELECT count(*) FROM audit_log) AS audit_entries`;
const ATTEMPTS = 4;

/**
 * Opens the import's transaction: every table locked against writers, then the change-log lock
 * (the import appends deletes), then the emptiness check. Locking tables one by one can deadlock
 * with a writer holding another of them; PostgreSQL then cancels one side and this retries.
 */
export async function openImport(connect: () => Promise<PoolClient>): Promise<BeginImportResult> {
  for (let attempt = 1; ; attempt++) {
    const client = await connect();
    const detach = guardHeldClient(client);
    try {
      await client.query('BEGIN');
      await client.query(`LOCK TABLE ${TABLES} IN EXCLUSIVE MODE`);
      await client.query(SQL.changeLogLock);
      const [row] = (await client.query<{ accounts: number; signing_keys: number; admin_keys: number; audit_entries: number }>(CONTENTS)).rows;
      const contents: StoreContents = {
        accounts: row?.accounts ?? 0,
        signingKeys: row?.signing_keys ?? 0,
        adminKeys: row?.admin_keys ?? 0,
        auditEntries: row?.audit_entries ?? 0,
      };
      if (Object.values(contents).some((n) => n > 0)) {
        await client.query('ROLLBACK');
        detach();
        client.release();
        return { empty: false, contents };
      }
      return { empty: true, writer: new PostgresImportWriter(client, detach) };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      detach();
      client.release(isUnavailable(error) ? (error as Error) : undefined);
      if (attempt < ATTEMPTS && isRetryable(error)) continue;
      throw translate(error);
    }
  }
}

/** How each kind is written: its table, columns, and a record's values in that order. */
const INSERTS: Record<TransferKind, { readonly table: string; readonly columns: readonly string[]; readonly values: (record: TransferRecord) => unknown[] }> = {
  account: {
    table: 'accounts',
    columns: ['username', 'created', 'password_hash', 'disabled'],
    values: (r) => (r.kind === 'account' ? [r.username, r.created, r.passwordHash, r.disabled ? 1 : 0] : []),
  },
  token: {
    table: 'tokens',
    columns: TOKEN_INSERT_COLUMNS,
    values: (r) => (r.kind === 'token' ? tokenParams(r) : []),
  },
  usage: { table: 'token_usage', columns: ['token_id', 'day', 'count'], values: (r) => (r.kind === 'usage' ? [r.tokenId, r.day, r.count] : []) },
  session: {
    table: 'sessions',
    columns: ['id_hash', 'username', 'created', 'expires'],
    values: (r) => (r.kind === 'session' ? [r.idHash, r.username, r.created, r.expires] : []),
  },
  signingKey: {
    table: 'signing_keys',
    columns: ['id', 'sealed_key', 'created', 'retired'],
    values: (r) => (r.kind === 'signingKey' ? [r.id, r.sealedKey, r.created, r.retired] : []),
  },
  adminKey: {
    table: 'admin_keys',
    columns: ['id', 'note', 'key_hash', 'created'],
    values: (r) => (r.kind === 'adminKey' ? [r.id, r.note, r.keyHash, r.created] : []),
  },
  // New seqs (the log's order is kept: records come in the source's seq order); `at` and the hash kept.
  delete: {
    table: 'token_changes',
    columns: ['token_id', 'kind', 'at', 'token_hash'],
    values: (r) => (r.kind === 'delete' ? [r.tokenId, 'delete', r.at, r.tokenHash] : []),
  },
  // The source's ids are kept, so cursors and order stay; the sequence moves past them at commit.
  audit: {
    table: 'audit_log',
    columns: ['id', ...AUDIT_INSERT_COLUMNS],
    values: (r) => (r.kind === 'audit' ? [r.id, ...auditParams(r)] : []),
  },
};

/** PostgreSQL takes at most 65,535 parameters a statement; batches stay well below. */
const MAX_PARAMS = 30_000;

class PostgresImportWriter implements ImportWriter {
  private done = false;
  private wroteDeletes = false;

  constructor(
    private readonly client: PoolClient,
    private readonly detach: () => void,
  ) {}

  /** Consecutive records of one kind go in multi-row INSERTs. */
  async write(records: readonly TransferRecord[]): Promise<void> {
    if (this.done) throw new Error('the import has ended');
    let start = 0;
    while (start < records.length) {
      const kind = records[start]!.kind;
      let end = start;
      while (end < records.length && records[end]!.kind === kind) end++;
      await this.insert(kind, records.slice(start, end));
      start = end;
    }
  }

  /**
   * Sets each account's token count from the tokens written, moves the audit id sequence past the
   * imported ids, wakes followers if deletes were written, and commits.
   */
  async commit(): Promise<void> {
    if (this.done) throw new Error('the import has ended');
    try {
      await this.client.query('UPDATE accounts SET token_count = (SELECT count(*) FROM tokens WHERE tokens.username = accounts.username)');
      await this.client.query("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM audit_log");
      if (this.wroteDeletes) await this.client.query(SQL.notifyChanges);
      await this.client.query('COMMIT');
      this.finish();
    } catch (error) {
      await this.abort();
      throw translate(error);
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    let broken: Error | undefined;
    await this.client.query('ROLLBACK').catch((error: unknown) => (broken = error as Error));
    this.finish(broken);
  }

  private finish(broken?: Error): void {
    this.done = true;
    this.detach();
    this.client.release(broken);
  }

  private async insert(kind: TransferKind, records: readonly TransferRecord[]): Promise<void> {
    const { table, columns, values } = INSERTS[kind];
    const perStatement = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
    for (let i = 0; i < records.length; i += perStatement) {
      const batch = records.slice(i, i + perStatement);
      const params = batch.flatMap(values);
      const tuples = batch.map((_, row) => `(${columns.map((_, col) => `$${row * columns.length + col + 1}`).join(', ')})`);
      try {
        await this.client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, params);
      } catch (error) {
        throw translate(error);
      }
    }
    if (kind === 'delete') this.wroteDeletes = true;
  }
}
