/**
 * The rows of the smaller tables (change log, sessions, Idempotency-Keys, account overviews, admin
 * and signing keys) and their records. Both SQL backends keep SQLite's column names and value
 * shapes (docs/store-dialects.md: one row shape), so PostgreSQL reads these through the same
 * functions, as it does `token-row.ts` and `audit-row.ts`.
 */
import type { AccountOverview, AdminKeyRecord, ChangeKind, IdempotencyRecord, SessionRecord, SigningKeyRecord, TokenChange } from '../port.js';

export interface ChangeRow {
  seq: number;
  token_id: string;
  kind: ChangeKind;
  at: number;
}

export interface SessionRow {
  id_hash: string;
  username: string;
  created: number;
  expires: number;
}

export interface IdempotencyRow {
  key: string;
  request_hash: string;
  sealed_response: string;
  created: number;
}

export interface OverviewRow {
  username: string;
  created: number;
  token_count: number;
  disabled: number;
}

export interface AdminKeyRow {
  id: string;
  note: string;
  key_hash: string;
  created: number;
}

/** A `token_usage` row. */
export interface UsageRow {
  token_id: string;
  day: number;
  count: number;
}

/** A `delete` entry of the change log, with the deleted token's hash (what an export moves). */
export interface DeleteRow {
  token_id: string;
  at: number;
  token_hash: string;
}

export interface KeyRow {
  id: string;
  sealed_key: string;
  created: number;
  retired: number | null;
}

export function toChange(row: ChangeRow): TokenChange {
  return Object.freeze({ seq: row.seq, tokenId: row.token_id, kind: row.kind, at: row.at });
}

export function toSession(row: SessionRow): SessionRecord {
  return Object.freeze({ idHash: row.id_hash, username: row.username, created: row.created, expires: row.expires });
}

export function fromIdempotencyRow(row: IdempotencyRow): IdempotencyRecord {
  return Object.freeze({ key: row.key, requestHash: row.request_hash, sealedResponse: row.sealed_response, created: row.created });
}

export function toOverview(row: OverviewRow): AccountOverview {
  return Object.freeze({ username: row.username, created: row.created, tokenCount: row.token_count, disabled: row.disabled === 1 });
}

export function toAdminKey(row: AdminKeyRow): AdminKeyRecord {
  return Object.freeze({ id: row.id, note: row.note, keyHash: row.key_hash, created: row.created });
}

export function toSigningKey(row: KeyRow): SigningKeyRecord {
  return Object.freeze({ id: row.id, sealedKey: row.sealed_key, created: row.created, retired: row.retired });
}

export function fromUsageRow(row: UsageRow): { tokenId: string; day: number; count: number } {
  return { tokenId: row.token_id, day: row.day, count: row.count };
}

export function fromDeleteRow(row: DeleteRow): { tokenId: string; at: number; tokenHash: string } {
  return { tokenId: row.token_id, at: row.at, tokenHash: row.token_hash };
}
