/**
 * Running statements and transactions on the pool: every store call goes through `query` or
 * `inTransaction`, so every driver error is translated once (pg-errors.ts) and every transaction
 * rolls back, and gives its connection back, however it ends.
 */
import type { Pool, PoolClient, QueryResult } from 'pg';
import type { AuditEntryInput, ChangeKind } from '../port.js';
import { isRetryable, isUnavailable, translate } from './pg-errors.js';
import { auditParams } from './rows.js';
import { AUDIT_SQL, SQL } from './statements.js';

/** A change-log entry to append. `tokenHash` only for a delete. */
export interface ChangeInput {
  readonly tokenId: string;
  readonly kind: ChangeKind;
  readonly at: number;
  readonly tokenHash: string | null;
}

/** Whole-transaction attempts when PostgreSQL reports a deadlock or serialization failure. */
const ATTEMPTS = 4;

/** Statements on one client: a transaction's, or a lone statement's. */
export class Tx {
  constructor(private readonly client: Pick<PoolClient, 'query'> | Pool) {}

  async rows<R>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    return (await this.run(sql, params)).rows as R[];
  }

  async first<R>(sql: string, params: readonly unknown[] = []): Promise<R | undefined> {
    return (await this.rows<R>(sql, params))[0];
  }

  /** Rows the statement changed. */
  async count(sql: string, params: readonly unknown[] = []): Promise<number> {
    return (await this.run(sql, params)).rowCount ?? 0;
  }

  /**
   * Appends changes to the log, in the order given, and notifies the followers; the caller's
   * transaction must make it its LAST locking step (only audit inserts may follow).
   *
   * Why the lock: a seq is drawn from the identity sequence at INSERT, but the row becomes visible
   * at COMMIT. Without an order between them, transaction A could draw 11, B draw 12, B commit, a
   * follower read 12 and remember "seen up to 12", and A commit 11 afterwards: the follower would
   * never read 11 (a missed delete keeps a revoked token verifying from its cache). So every
   * appending transaction takes one transaction-scoped advisory lock right before its insert and
   * holds it until its commit has become visible (PostgreSQL releases locks after that): seqs
   * are drawn and made visible in the same order. The lock is held only for this tail of each
   * transaction (an insert and a commit), which is why it comes last. NOTIFY is delivered at commit.
   */
  async appendChanges(changes: readonly ChangeInput[]): Promise<void> {
    if (changes.length === 0) return;
    await this.run(SQL.changeLogLock);
    await this.run(SQL.appendChange, [changes.map((c) => c.tokenId), changes.map((c) => c.kind), changes.map((c) => c.at), changes.map((c) => c.tokenHash)]);
    await this.run(SQL.notifyChanges);
  }

  /** The entry of the change this transaction makes, if any. */
  async writeAudit(entry: AuditEntryInput | undefined): Promise<void> {
    if (entry === undefined) return;
    await this.run(AUDIT_SQL.insert, auditParams(entry));
  }

  private async run(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    return this.client.query(sql, params as unknown[]);
  }
}

/** One statement on a pooled connection (autocommit); driver errors translated. */
export async function query<R>(pool: Pool, sql: string, params: readonly unknown[] = []): Promise<R[]> {
  try {
    return await new Tx(pool).rows<R>(sql, params);
  } catch (error) {
    throw translate(error);
  }
}

/**
 * Runs `work` in one READ COMMITTED transaction on one pooled connection: COMMIT when it
 * resolves, ROLLBACK when it throws. Run again from the start (up to ATTEMPTS times) on a deadlock
 * or serialization failure, which PostgreSQL has already rolled back. A connection that failed
 * mid-transaction is destroyed, not returned to the pool.
 */
export async function inTransaction<R>(pool: Pool, work: (tx: Tx) => Promise<R>): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptTransaction(pool, work);
    } catch (error) {
      if (attempt < ATTEMPTS && isRetryable(error)) continue;
      throw translate(error);
    }
  }
}

async function attemptTransaction<R>(pool: Pool, work: (tx: Tx) => Promise<R>): Promise<R> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const result = await work(new Tx(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    }
  } catch (error) {
    // A connection error leaves the client unusable: destroy it rather than pool it.
    if (broken === undefined && isUnavailable(error)) broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    client.release(broken);
  }
}
