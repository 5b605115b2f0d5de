/**
 * Seeds one account with many tokens, fast. The records are made exactly as
 * `TokensService.create` makes them (id, token string, SHA-256 hash, sealed pk string, times),
 * but they are written in ONE transaction on a second connection to the same SQLite file (with
 * the account's token counter moved by the same amount), rather than through
 * `Store.insertToken`'s 100,000 separate transactions.
 * The caller checks the result through the service (see `walkPages` in list.ts), so a column
 * this file got wrong would fail the run rather than skew it.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { hashToken, newStoredToken, newTokenId } from '../dist/domain/token-format.js';
import type { Tokenbox } from '../dist/main.js';
import type { TokenRecord } from '../dist/store/port.js';

const INSERT = `INSERT INTO tokens (id, username, usage, note, scopes, allowed_urls,
  allowed_applications, is_default, token_hash, sealed_token, created, modified, created_by, last_used)
  VALUES (@id, @username, @usage, @note, @scopes, @allowed_urls, @allowed_applications,
  @is_default, @token_hash, @sealed_token, @created, @modified, @created_by, @last_used)`;

/** A mix like a real account's: three pk (the list unseals and shows their strings) to one sk. */
function seedRecord(app: Tokenbox, username: string, i: number, created: number): TokenRecord {
  const usage = i % 4 === 0 ? 'sk' : 'pk';
  const id = newTokenId();
  const token = newStoredToken(usage, username, id);
  return {
    id,
    username,
    usage,
    note: `seed token ${i}`,
    scopes: usage === 'sk' ? ['styles:read', 'tokens:read'] : ['styles:read', 'styles:tiles', 'fonts:read'],
    allowedUrls: i % 10 === 1 ? ['https://example.com/*'] : null,
    allowedApplications: null,
    isDefault: false,
    tokenHash: hashToken(token),
    sealedToken: usage === 'pk' ? app.sealer.seal(token, id) : null,
    created,
    modified: created,
    createdBy: 'cli',
    lastUsed: null,
  };
}

function toRow(r: TokenRecord): Record<string, string | number | null> {
  return {
    id: r.id,
    username: r.username,
    usage: r.usage,
    note: r.note,
    scopes: JSON.stringify(r.scopes),
    allowed_urls: r.allowedUrls === null ? null : JSON.stringify(r.allowedUrls),
    allowed_applications: r.allowedApplications === null ? null : JSON.stringify(r.allowedApplications),
    is_default: r.isDefault ? 1 : 0,
    token_hash: r.tokenHash,
    sealed_token: r.sealedToken,
    created: r.created,
    modified: r.modified,
    created_by: r.createdBy,
    last_used: r.lastUsed,
  };
}

/**
 * Adds `count` tokens to an existing account, created one second apart and all before
 * `beforeMs`, so tokens made later through the API sort ahead of them (newest first).
 */
export function seedTokens(app: Tokenbox, username: string, count: number, beforeMs: number): void {
  const rows = Array.from({ length: count }, (_, i) => toRow(seedRecord(app, username, i, beforeMs - (count - i) * 1000)));
  const db = new Database(join(app.config.dataDir, 'tokenbox.db'));
  try {
    db.pragma('busy_timeout = 5000');
    const insert = db.prepare(INSERT);
    const countUp = db.prepare('UPDATE accounts SET token_count = token_count + ? WHERE username = ?');
    db.transaction(() => {
      for (const row of rows) insert.run(row);
      countUp.run(rows.length, username);
    }).immediate();
  } finally {
    db.close();
  }
}
