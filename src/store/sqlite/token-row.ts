/** Token records ↔ SQLite rows: JSON text for list fields, 0/1 for booleans, NULL for "no restriction". */
import type { AllowedApplication, TokenRecord } from '../port.js';
import type { StoredUsage } from '../../domain/token-format.js';

/** A `tokens` row as better-sqlite3 returns it. */
export interface TokenRow {
  id: string;
  username: string;
  usage: StoredUsage;
  note: string;
  scopes: string;
  allowed_urls: string | null;
  allowed_applications: string | null;
  is_default: number;
  token_hash: string;
  sealed_token: string | null;
  created: number;
  modified: number;
  created_by: string;
  last_used: number | null;
}

/** Only the known keys are written, so a caller's extra properties never reach the file. */
export function toTokenRow(token: TokenRecord): TokenRow {
  const apps = token.allowedApplications?.map(({ platform, bundleId }) => ({ platform, bundleId }));
  return {
    id: token.id,
    username: token.username,
    usage: token.usage,
    note: token.note,
    scopes: JSON.stringify(token.scopes),
    allowed_urls: token.allowedUrls === null ? null : JSON.stringify(token.allowedUrls),
    allowed_applications: apps === undefined ? null : JSON.stringify(apps),
    is_default: token.isDefault ? 1 : 0,
    token_hash: token.tokenHash,
    sealed_token: token.sealedToken,
    created: token.created,
    modified: token.modified,
    created_by: token.createdBy,
    last_used: token.lastUsed,
  };
}

/** Frozen all the way down, so a caller cannot edit what another caller reads. */
export function fromTokenRow(row: TokenRow): TokenRecord {
  const apps = row.allowed_applications === null ? null : (JSON.parse(row.allowed_applications) as AllowedApplication[]);
  return Object.freeze({
    id: row.id,
    username: row.username,
    usage: row.usage,
    note: row.note,
    scopes: Object.freeze(JSON.parse(row.scopes) as string[]),
    allowedUrls: row.allowed_urls === null ? null : Object.freeze(JSON.parse(row.allowed_urls) as string[]),
    allowedApplications: apps === null ? null : Object.freeze(apps.map((app) => Object.freeze(app))),
    isDefault: row.is_default === 1,
    tokenHash: row.token_hash,
    sealedToken: row.sealed_token,
    created: row.created,
    modified: row.modified,
    createdBy: row.created_by,
    lastUsed: row.last_used,
  });
}

/**
 * `storedSize` (port.ts) of the record this row holds, read from the raw row before any JSON is
 * parsed: the list columns hold exactly `JSON.stringify` of the record's lists (toTokenRow writes
 * them so, and parsing then re-stringifying gives the same text), and `.length` counts UTF-16
 * code units on both sides. So a page can stop reading without parsing the rows it leaves.
 */
export function storedRowSize(row: TokenRow): number {
  return (
    row.note.length +
    row.scopes.length +
    (row.allowed_urls === null ? 0 : row.allowed_urls.length) +
    (row.allowed_applications === null ? 0 : row.allowed_applications.length)
  );
}
