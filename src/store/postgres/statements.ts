/**
 * The SQL the PostgreSQL store runs, in one place, under the SAME names as `sqlite/statements.ts`
 * wherever a statement does the same job, so the two files read side by side (docs/store-dialects.md).
 * Parameters are positional (`$1`), PostgreSQL's only form; the names a statement adds of its own
 * (locks, batch forms) are PostgreSQL's way of doing what SQLite's single writer gives for free.
 * The only text built at run time is the keyset and audit page queries, from closed sets of column
 * names, never from input.
 */
import type { AuditQuery, SortBy } from '../port.js';

const TOKEN_COLUMNS = `id, username, usage, note, scopes, allowed_urls, allowed_applications,
  is_default, token_hash, sealed_token, created, modified, created_by, last_used`;

/** The row's account is not disabled (for statements on `tokens`). */
const ENABLED = 'NOT EXISTS (SELECT 1 FROM accounts WHERE accounts.username = tokens.username AND accounts.disabled = 1)';

/**
 * Advisory lock keys (bigint). Both lie above 2^32, so they can never equal a `runExclusive` key,
 * which is `hashtext(...)`, an int4.
 */
export const MIGRATION_LOCK = 0x746f6b656e01; // 'token' + 01
export const CHANGELOG_LOCK = 0x746f6b656e02; // 'token' + 02

/** The channel every change-log append notifies (delivered when its transaction commits). */
export const CHANGES_CHANNEL = 'tokenbox_changes';

export const SQL = {
  ping: 'SELECT 1',
  migrationLock: `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`,
  waitForLocks: 'SET LOCAL lock_timeout = 0',
  appliedMigrations: 'SELECT name FROM schema_migrations',
  recordMigration: 'INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)',
  // ON CONFLICT: of two concurrent creates of one username, the second waits for the first and
  // then inserts nothing: "exists" is an answer, not an error.
  insertAccount: `INSERT INTO accounts (username, created, token_count, password_hash) VALUES ($1, $2, 1, $3)
    ON CONFLICT (username) DO NOTHING RETURNING username`,
  getAccount: 'SELECT username, created FROM accounts WHERE username = $1',
  // Row locks that order check-then-write transactions on one account behind each other.
  lockAccount: 'SELECT username FROM accounts WHERE username = $1 FOR UPDATE',
  lockAccountShared: 'SELECT username FROM accounts WHERE username = $1 FOR SHARE',
  listAccounts: 'SELECT username, created FROM accounts ORDER BY created, username',
  accountOverview: 'SELECT username, created, token_count, disabled FROM accounts WHERE username = $1',
  accountOverviewsFirst: 'SELECT username, created, token_count, disabled FROM accounts ORDER BY created, username LIMIT $1',
  accountOverviewsAfter: `SELECT username, created, token_count, disabled FROM accounts
    WHERE (created, username) > ($1, $2)
    ORDER BY created, username LIMIT $3`,
  insertAdminKey: 'INSERT INTO admin_keys (id, note, key_hash, created) VALUES ($1, $2, $3, $4)',
  adminKeyByHash: 'SELECT id, note, key_hash, created FROM admin_keys WHERE key_hash = $1',
  listAdminKeys: 'SELECT id, note, key_hash, created FROM admin_keys ORDER BY created, id',
  deleteAdminKey: 'DELETE FROM admin_keys WHERE id = $1',
  insertToken: `INSERT INTO tokens (${TOKEN_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
  // A conditional UPDATE: concurrent claims on one account wait for each other's row lock and
  // re-check `token_count < $2` against the committed count, so the limit is never overshot.
  claimTokenSlot: 'UPDATE accounts SET token_count = token_count + 1 WHERE username = $1 AND token_count < $2',
  releaseTokenSlot: 'UPDATE accounts SET token_count = token_count - 1 WHERE username = $1',
  tokenByHash: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1 AND ${ENABLED}`,
  tokenById: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = $1 AND username = $2`,
  lockToken: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = $1 AND username = $2 FOR UPDATE`,
  tokenByIdAnyAccount: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = $1 AND ${ENABLED}`,
  deletedHash: "SELECT token_hash FROM token_changes WHERE token_id = $1 AND kind = 'delete' LIMIT 1",
  updateToken: `UPDATE tokens SET note = $2, scopes = $3, allowed_urls = $4, allowed_applications = $5, modified = $6
    WHERE id = $1 RETURNING ${TOKEN_COLUMNS}`,
  deleteToken: 'DELETE FROM tokens WHERE id = $1 AND username = $2 RETURNING token_hash',
  deleteDefaultToken: 'DELETE FROM tokens WHERE id = $1 AND username = $2 AND is_default = 1 RETURNING token_hash',
  setDefaultScopes: `UPDATE tokens SET scopes = $1, modified = $2
    WHERE is_default = 1 AND scopes <> $1 RETURNING id`,
  // Held to COMMIT: see appendChanges in postgres-store.ts.
  changeLogLock: `SELECT pg_advisory_xact_lock(${CHANGELOG_LOCK})`,
  // Several changes in one statement, in the order given (WITH ORDINALITY keeps it).
  appendChange: `INSERT INTO token_changes (token_id, kind, at, token_hash)
    SELECT c.token_id, c.kind, c.at, c.token_hash
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY AS c(token_id, kind, at, token_hash, n)
    ORDER BY c.n`,
  notifyChanges: `NOTIFY ${CHANGES_CHANNEL}`,
  changesSince: 'SELECT seq, token_id, kind, at FROM token_changes WHERE seq > $1 ORDER BY seq LIMIT $2',
  recentDeletes: "SELECT seq, token_id, kind, at FROM token_changes WHERE kind = 'delete' AND at >= $1 ORDER BY seq",
  latestSeq: 'SELECT COALESCE(MAX(seq), 0) AS seq FROM token_changes',
  pruneChangesBatch: `DELETE FROM token_changes WHERE seq IN (SELECT seq FROM token_changes
    WHERE at < $1 AND seq < (SELECT MAX(seq) FROM token_changes) ORDER BY seq LIMIT $2)`,
  listKeys: 'SELECT id, sealed_key, created, retired FROM signing_keys ORDER BY created DESC, id DESC',
  retireKeys: 'UPDATE signing_keys SET retired = $1 WHERE retired IS NULL',
  insertKey: 'INSERT INTO signing_keys (id, sealed_key, created, retired) VALUES ($1, $2, $3, $4)',
  // A flush's tokens, locked against a concurrent delete (KEY SHARE: flushes do not block each
  // other), so every row found here can take its usage row without a foreign-key failure.
  lockUsageTokens: 'SELECT id FROM tokens WHERE id = ANY($1::text[]) ORDER BY id FOR KEY SHARE',
  // One statement for the whole (pre-summed: one row per token and day) batch.
  addUsage: `INSERT INTO token_usage (token_id, day, count)
    SELECT u.token_id, u.day, u.count FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(token_id, day, count)
    ON CONFLICT (token_id, day) DO UPDATE SET count = token_usage.count + excluded.count`,
  raiseLastUsed: `UPDATE tokens SET last_used = u.last_used
    FROM unnest($1::text[], $2::bigint[]) AS u(id, last_used)
    WHERE tokens.id = u.id AND (tokens.last_used IS NULL OR tokens.last_used < u.last_used)`,
  usageByDay: 'SELECT day, count FROM token_usage WHERE token_id = $1 AND day >= $2 AND day <= $3 ORDER BY day',
  getPasswordHash: 'SELECT password_hash FROM accounts WHERE username = $1 AND disabled = 0',
  setPasswordHash: 'UPDATE accounts SET password_hash = $2 WHERE username = $1',
  deleteSessionsOf: 'DELETE FROM sessions WHERE username = $1',
  insertSession: 'INSERT INTO sessions (id_hash, username, created, expires) VALUES ($1, $2, $3, $4)',
  findSession: `SELECT id_hash, username, created, expires FROM sessions
    WHERE id_hash = $1 AND expires > $2 AND ${ENABLED.replace('tokens.', 'sessions.')}`,
  setAccountDisabled: 'UPDATE accounts SET disabled = $2 WHERE username = $1 AND disabled <> $2',
  tokenIdsOf: 'SELECT id FROM tokens WHERE username = $1 ORDER BY id',
  deleteTokensOf: 'DELETE FROM tokens WHERE username = $1 RETURNING id, token_hash',
  deleteAccount: 'DELETE FROM accounts WHERE username = $1',
  deleteSession: 'DELETE FROM sessions WHERE id_hash = $1',
  pruneSessions: 'DELETE FROM sessions WHERE expires <= $1',
  findIdempotencyKey: 'SELECT key, request_hash, sealed_response, created FROM idempotency_keys WHERE username = $1 AND key = $2',
  insertIdempotencyKey: `INSERT INTO idempotency_keys (username, key, request_hash, sealed_response, created)
    VALUES ($1, $2, $3, $4, $5)`,
  pruneIdempotencyKeys: 'DELETE FROM idempotency_keys WHERE created < $1',
  tryJobLock: "SELECT pg_try_advisory_lock(hashtext('tokenbox:' || $1)) AS taken",
  releaseJobLock: "SELECT pg_advisory_unlock(hashtext('tokenbox:' || $1))",
} as const;

const AUDIT_COLUMNS = 'id, at, actor_kind, actor_id, account, action, target, ip, details';

/** The audit log's statements (`sqlite/audit-row.ts` holds SQLite's under the same names). */
export const AUDIT_SQL = {
  insert: `INSERT INTO audit_log (at, actor_kind, actor_id, account, action, target, ip, details)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
  pruneBatch: 'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)',
} as const;

/**
 * The keyset page query. The sort column comes from a closed set, never from input. The row
 * comparison `(column, id) < ($5, $6)` is a range seek on `tokens_by_username_<column>`, so a deep
 * page costs what the first does. Parameters: username, usage, isDefault (each filter null when
 * absent), limit, then with a cursor its sortValue and id.
 */
export function listTokensSql(sortBy: SortBy, hasCursor: boolean): string {
  const column = sortBy === 'modified' ? 'modified' : 'created';
  const after = hasCursor ? `AND (${column}, id) < ($5::bigint, $6::text)` : '';
  return `SELECT ${TOKEN_COLUMNS} FROM tokens
    WHERE username = $1 ${after}
      AND ($2::text IS NULL OR usage = $2)
      AND ($3::smallint IS NULL OR is_default = $3)
    ORDER BY ${column} DESC, id DESC LIMIT $4`;
}

/** The audit page query for the filters given (parameters: before, limit, then account, action as present). */
export function listAuditSql(query: Pick<AuditQuery, 'account' | 'action'>): string {
  const where = ['id < $1'];
  if (query.account !== undefined) where.push('account = $3');
  if (query.action !== undefined) where.push(`action = $${query.account === undefined ? 3 : 4}`);
  return `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $2`;
}
