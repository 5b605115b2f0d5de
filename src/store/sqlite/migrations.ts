/**
 * SQLite schema, as numbered forward-only migrations. A migration, once released, is never
 * edited: a change is a new entry at the end. Names sort in the order they apply and are what
 * `schema_migrations` records, so the PostgreSQL backend keeps the same list (a test compares
 * them) and mirrors the snake_case column names.
 *
 * Units: every time is Unix milliseconds (INTEGER). Booleans are INTEGER 0/1. The list-valued
 * token fields (`scopes`, `allowed_urls`, `allowed_applications`) are JSON text; NULL in the
 * restriction columns means "no restriction", which is not the same as an empty list.
 */

export interface Migration {
  readonly name: string;
  readonly sql: string;
}

/** Created before any migration runs, so the runner can read what is already applied. */
export const MIGRATIONS_TABLE_SQL = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at INTEGER NOT NULL
  );
`;

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    name: '001_initial',
    sql: `
      CREATE TABLE accounts (
        username TEXT PRIMARY KEY,
        created INTEGER NOT NULL,
        -- Tokens the account holds, kept in the same transaction as every insert and delete,
        -- so the maxTokensPerAccount check costs the same at 10 tokens and at 100,000.
        token_count INTEGER NOT NULL DEFAULT 0 CHECK (token_count >= 0)
      );
      CREATE INDEX accounts_by_created ON accounts (created, username);

      CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES accounts (username),
        usage TEXT NOT NULL CHECK (usage IN ('pk', 'sk')),
        note TEXT NOT NULL,
        scopes TEXT NOT NULL,
        allowed_urls TEXT,
        allowed_applications TEXT,
        is_default INTEGER NOT NULL CHECK (is_default IN (0, 1)),
        token_hash TEXT NOT NULL,
        sealed_token TEXT,
        created INTEGER NOT NULL,
        modified INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        last_used INTEGER
      );
      -- Verification reads one token by hash.
      CREATE UNIQUE INDEX tokens_by_hash ON tokens (token_hash);
      -- Keyset listing: newest first, ties by id descending, one index per sort key, so a page
      -- deep in the list is a range seek, not a scan of the pages before it.
      CREATE INDEX tokens_by_username_created ON tokens (username, created DESC, id DESC);
      CREATE INDEX tokens_by_username_modified ON tokens (username, modified DESC, id DESC);
      -- Every account has at most one default token (the services keep it exactly one).
      CREATE UNIQUE INDEX tokens_one_default ON tokens (username) WHERE is_default = 1;

      -- The change log (SPEC §7). AUTOINCREMENT: a seq is never reused, even if the newest rows
      -- were ever removed, so a follower's "last seen seq" can never skip a later change.
      -- No foreign key to tokens: a delete's entry outlives the token it records.
      CREATE TABLE token_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        token_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('update', 'delete')),
        at INTEGER NOT NULL,
        -- [ext] For a delete: the deleted token's hash, so retrieve can tell a revoked token
        -- (right secret) from a forged one (wrong secret) after the row is gone.
        token_hash TEXT
      );
      -- Retrieve tells a revoked id from one that never existed by its delete entry.
      CREATE INDEX token_changes_by_token ON token_changes (token_id, kind);
      -- A starting node loads the last hour's deletes as tombstones.
      CREATE INDEX token_changes_by_kind_at ON token_changes (kind, at);

      CREATE TABLE signing_keys (
        id TEXT PRIMARY KEY,
        sealed_key TEXT NOT NULL,
        created INTEGER NOT NULL,
        retired INTEGER
      );
    `,
  },
  {
    // The change log also records signing-key rotations (kind 'key', token_id = the new key's
    // id), so every process reloads its keyring through the same follower (SPEC §2, §7). SQLite
    // cannot alter a CHECK constraint, so the table is rebuilt: rows copied with their seq, and
    // the AUTOINCREMENT high-water mark carried over, so no seq is ever handed out twice, even
    // one whose row is gone. Runs inside the migration's transaction: all of it or none.
    name: '002_change_kind_key',
    sql: `
      CREATE TABLE token_changes_next (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        token_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('update', 'delete', 'key')),
        at INTEGER NOT NULL,
        token_hash TEXT
      );
      INSERT INTO token_changes_next (seq, token_id, kind, at, token_hash)
        SELECT seq, token_id, kind, at, token_hash FROM token_changes ORDER BY seq;
      DELETE FROM sqlite_sequence WHERE name = 'token_changes_next';
      INSERT INTO sqlite_sequence (name, seq)
        SELECT 'token_changes_next', seq FROM sqlite_sequence WHERE name = 'token_changes';
      DROP TABLE token_changes;
      ALTER TABLE token_changes_next RENAME TO token_changes;
      CREATE INDEX token_changes_by_token ON token_changes (token_id, kind);
      CREATE INDEX token_changes_by_kind_at ON token_changes (kind, at);
    `,
  },
  {
    // Verified requests per token per UTC day (SPEC §5), added by usage flushes; `tokens.last_used`
    // (from 001) is raised in the same transaction. Not in the change log: usage is no change to
    // a token. A token's usage goes with it (ON DELETE CASCADE; foreign_keys is ON), and a flush
    // naming a deleted token writes nothing for it. The primary key serves both the upsert and
    // the analytics range read (token_id = ? AND day BETWEEN ? AND ?).
    name: '003_usage',
    sql: `
      CREATE TABLE token_usage (
        token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
        -- The UTC day's start, Unix ms.
        day INTEGER NOT NULL,
        count INTEGER NOT NULL CHECK (count >= 0),
        PRIMARY KEY (token_id, day)
      ) WITHOUT ROWID;
    `,
  },
  {
    // The Access tokens page (SPEC §9): a password per account (argon2id; NULL: the account
    // cannot sign in), its sessions (only the SHA-256 of the id the browser holds), and the
    // Idempotency-Key records of creates (24 h; the response sealed, as it holds the token).
    // Sessions and idempotency records go with their account.
    name: '004_page',
    sql: `
      ALTER TABLE accounts ADD COLUMN password_hash TEXT;

      CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
      ) WITHOUT ROWID;
      -- Sign-out everywhere (a password change) and the prune job.
      CREATE INDEX sessions_by_username ON sessions (username);
      CREATE INDEX sessions_by_expires ON sessions (expires);

      CREATE TABLE idempotency_keys (
        username TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        sealed_response TEXT NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (username, key)
      ) WITHOUT ROWID;
      CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created);
    `,
  },
  {
    // Operators' admin keys (SPEC §10): only the SHA-256 of the `tba_` string is kept. Every
    // admin request reads this table by hash (no cache, so no change-log kind is needed: a
    // delete holds at once on every process).
    name: '005_admin_keys',
    sql: `
      CREATE TABLE admin_keys (
        id TEXT PRIMARY KEY,
        note TEXT NOT NULL,
        key_hash TEXT NOT NULL,
        created INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX admin_keys_by_hash ON admin_keys (key_hash);
      CREATE INDEX admin_keys_by_created ON admin_keys (created, id);
    `,
  },
  {
    // Accounts can be disabled (SPEC §10): the verification reads skip their tokens, their
    // sessions and password are refused; nothing else changes, so enabling restores them.
    name: '006_account_disabled',
    sql: `
      ALTER TABLE accounts ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
    `,
  },
  {
    // The audit log (SPEC §10): one row per change, written in the change's transaction. No
    // foreign key to accounts: an account's entries outlive it (its `account.delete` is one).
    // AUTOINCREMENT: ids never come back after the newest rows are pruned, so a cursor (an id)
    // never points into entries written later. `details` is a JSON object or NULL.
    name: '007_audit',
    sql: `
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor_kind TEXT NOT NULL CHECK (actor_kind IN ('token', 'admin', 'cli', 'web')),
        actor_id TEXT,
        account TEXT,
        action TEXT NOT NULL,
        target TEXT,
        ip TEXT,
        details TEXT
      );
      -- Newest first is the primary key backwards; by account and by action, a range of these.
      CREATE INDEX audit_log_by_account ON audit_log (account, id);
      CREATE INDEX audit_log_by_action ON audit_log (action, id);
      -- Retention.
      CREATE INDEX audit_log_by_at ON audit_log (at);
    `,
  },
]);
