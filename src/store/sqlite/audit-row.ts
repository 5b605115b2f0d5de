/** The audit log's rows in SQLite (migration 007_audit) and their statements. */
import type { AuditAction, AuditActor } from '../../domain/audit.js';
import type { AuditEntry, AuditEntryInput, AuditQuery } from '../port.js';

export interface AuditRow {
  id: number;
  at: number;
  actor_kind: AuditActor['kind'];
  actor_id: string | null;
  account: string | null;
  action: AuditAction;
  target: string | null;
  ip: string | null;
  details: string | null;
}

const COLUMNS = 'id, at, actor_kind, actor_id, account, action, target, ip, details';

export const AUDIT_SQL = {
  insert: `INSERT INTO audit_log (at, actor_kind, actor_id, account, action, target, ip, details)
    VALUES (@at, @actor_kind, @actor_id, @account, @action, @target, @ip, @details)`,
  // Oldest first, a bounded batch: each prune step is one short transaction.
  pruneBatch: 'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY at LIMIT CAST(? AS INTEGER))',
} as const;

/**
 * The page query for the filters given: built from a closed set of column names, never from input,
 * so each filter seeks its own index (`audit_log_by_account`, `audit_log_by_action`, or the key).
 */
export function listAuditSql(query: Pick<AuditQuery, 'account' | 'action'>): string {
  const where = ['id < @before'];
  if (query.account !== undefined) where.push('account = @account');
  if (query.action !== undefined) where.push('action = @action');
  return `SELECT ${COLUMNS} FROM audit_log WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT CAST(@limit AS INTEGER)`;
}

export function toAuditRow(entry: AuditEntryInput): Omit<AuditRow, 'id'> {
  return {
    at: entry.at,
    actor_kind: entry.actor.kind,
    actor_id: entry.actor.id,
    account: entry.account,
    action: entry.action,
    target: entry.target,
    ip: entry.ip,
    details: entry.details === undefined || entry.details === null ? null : JSON.stringify(entry.details),
  };
}

export function fromAuditRow(row: AuditRow): AuditEntry {
  return Object.freeze({
    id: row.id,
    at: row.at,
    actor: Object.freeze({ kind: row.actor_kind, id: row.actor_id }),
    account: row.account,
    action: row.action,
    target: row.target,
    ip: row.ip,
    details: row.details === null ? null : (JSON.parse(row.details) as Record<string, unknown>),
  });
}
