/**
 * Records as positional parameters. The row shapes are SQLite's (`sqlite/token-row.ts`,
 * `sqlite/audit-row.ts`: JSON text, 0/1 booleans, NULL for "no restriction"), which this schema
 * mirrors column for column, so the record ↔ row mapping is written once for both dialects; only
 * the parameter order (`$1`, `$2`, … of the INSERTs in statements.ts) is PostgreSQL's own.
 */
import type { AuditEntryInput, TokenRecord } from '../port.js';
import { toAuditRow } from '../sqlite/audit-row.js';
import { toTokenRow } from '../sqlite/token-row.js';

/** The columns of a token INSERT, in the order of `tokenParams`. */
export const TOKEN_INSERT_COLUMNS = [
  'id',
  'username',
  'usage',
  'note',
  'scopes',
  'allowed_urls',
  'allowed_applications',
  'is_default',
  'token_hash',
  'sealed_token',
  'created',
  'modified',
  'created_by',
  'last_used',
] as const;

export function tokenParams(token: TokenRecord): unknown[] {
  const row = toTokenRow(token);
  return TOKEN_INSERT_COLUMNS.map((column) => row[column]);
}

/** The columns of an audit INSERT (without `id`), in the order of `auditParams`. */
export const AUDIT_INSERT_COLUMNS = ['at', 'actor_kind', 'actor_id', 'account', 'action', 'target', 'ip', 'details'] as const;

export function auditParams(entry: AuditEntryInput): unknown[] {
  const row = toAuditRow(entry);
  return AUDIT_INSERT_COLUMNS.map((column) => row[column]);
}
