/**
 * PostgreSQL schema, as numbered forward-only migrations: the SAME names as the SQLite list
 * (`sqlite/migrations.ts`; a test compares both with the contract's SQL_MIGRATIONS), each reaching
 * the schema SQLite's migration of that name reaches, in PostgreSQL's words. A released migration
 * is never edited: a change is a new entry at the end of both lists.
 *
 * Units and shapes mirror SQLite so that one row shape serves both dialects (`sqlite/token-row.ts`
 * and `sqlite/audit-row.ts` map records to rows for both): times are Unix milliseconds as BIGINT
 * (read back as JS numbers: the store's pool parses INT8 with `Number`); booleans are SMALLINT
 * 0/1; the list-valued token fields are JSON as TEXT, not JSONB, so the text read back is the text
 * written and `storedSize` weighs a row exactly as SQLite's does. Keys that lists sort by
 * (`id`, `username`) are `COLLATE "C"`: byte order, the order of JavaScript's `<` on these ASCII
 * ids, whatever the database's default collation.
 */

export interface Migration {
  readonly name: string;
  readonly sql: string;
}

/** Created (under the migration lock) before any migration runs, so the runner can read what is applied. */
export const MIGRATIONS_TABLE_SQL = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at BIGINT NOT NULL
  );
`;

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    name: '001_initial',
    sql: `
      CREATE TABLE accounts (
        username TEXT COLLATE "C" PRIMARY KEY,
        created BIGINT NOT NULL,
        -- Tokens the account holds, kept in the same transaction as every insert and delete, so
        -- the limit check is one conditional UPDATE of this row (which also queues concurrent
        -- inserts of one account behind each other's row lock).
        token_count INTEGER NOT NULL DEFAULT 0 CHECK (token_count >= 0)
      );
      CREATE INDEX accounts_by_created ON accounts (created, username);

      CREATE TABLE tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        username TEXT COLLATE "C" NOT NULL REFERENCES accounts (username),
        usage TEXT NOT NULL CHECK (usage IN ('pk', 'sk')),
        note TEXT NOT NULL,
        scopes TEXT NOT NULL,
        allowed_urls TEXT,
        allowed_applications TEXT,
        is_default SMALLINT NOT NULL CHECK (is_default IN (0, 1)),
        token_hash TEXT NOT NULL,
        sealed_token TEXT,
        created BIGINT NOT NULL,
        modified BIGINT NOT NULL,
        created_by TEXT NOT NULL,
        last_used BIGINT
      );
      CREATE UNIQUE INDEX tokens_by_hash ON tokens (token_hash);
      -- Keyset listing, newest first, ties by id descending: a deep page is a range seek.
      CREATE INDEX tokens_by_username_created ON tokens (username, created DESC, id DESC);
      CREATE INDEX tokens_by_username_modified ON tokens (username, modified DESC, id DESC);
      CREATE UNIQUE INDEX tokens_one_default ON tokens (username) WHERE is_default = 1;

      -- The change log (SPEC §7). An identity column never hands a value out twice, even after
      -- the newest rows are removed. No foreign key to tokens: a delete's entry outlives the token.
      -- Appending takes the change-log advisory lock first, so seqs become visible in order
      -- (see postgres-store.ts, appendChanges).
      CREATE TABLE token_changes (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        token_id TEXT COLLATE "C" NOT NULL,
        kind TEXT NOT NULL CONSTRAINT token_changes_kind_check CHECK (kind IN ('update', 'delete')),
        at BIGINT NOT NULL,
        token_hash TEXT
      );
      CREATE INDEX token_changes_by_token ON token_changes (token_id, kind);
      CREATE INDEX token_changes_by_kind_at ON token_changes (kind, at);

      CREATE TABLE signing_keys (
        id TEXT COLLATE "C" PRIMARY KEY,
        sealed_key TEXT NOT NULL,
        created BIGINT NOT NULL,
        retired BIGINT
      );
    `,
  },
  {
    // Signing-key rotations join the change log (kind 'key'). PostgreSQL can replace a CHECK in
    // place, so no table rebuild is needed (SQLite's 002 rebuilds the table); seqs are untouched.
    name: '002_change_kind_key',
    sql: `
      ALTER TABLE token_changes
        DROP CONSTRAINT token_changes_kind_check,
        ADD CONSTRAINT token_changes_kind_check CHECK (kind IN ('update', 'delete', 'key'));
    `,
  },
  {
    // Verified requests per token per UTC day (SPEC §5); a token's usage goes with it.
    name: '003_usage',
    sql: `
      CREATE TABLE token_usage (
        token_id TEXT COLLATE "C" NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
        day BIGINT NOT NULL,
        count BIGINT NOT NULL CHECK (count >= 0),
        PRIMARY KEY (token_id, day)
      );
    `,
  },
  {
    // The Access tokens page (SPEC §9): password, sessions, Idempotency-Key records.
    name: '004_page',
    sql: `
      ALTER TABLE accounts ADD COLUMN password_hash TEXT;

      CREATE TABLE sessions (
        id_hash TEXT COLLATE "C" PRIMARY KEY,
        username TEXT COLLATE "C" NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
        created BIGINT NOT NULL,
        expires BIGINT NOT NULL
      );
      CREATE INDEX sessions_by_username ON sessions (username);
      CREATE INDEX sessions_by_expires ON sessions (expires);

      CREATE TABLE idempotency_keys (
        username TEXT COLLATE "C" NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        sealed_response TEXT NOT NULL,
        created BIGINT NOT NULL,
        PRIMARY KEY (username, key)
      );
      CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created);
    `,
  },
  {
    // Operators' admin keys (SPEC §10): only the SHA-256 of the key string.
    name: '005_admin_keys',
    sql: `
      CREATE TABLE admin_keys (
        id TEXT COLLATE "C" PRIMARY KEY,
        note TEXT NOT NULL,
        key_hash TEXT NOT NULL,
        created BIGINT NOT NULL
      );
      CREATE UNIQUE INDEX admin_keys_by_hash ON admin_keys (key_hash);
      CREATE INDEX admin_keys_by_created ON admin_keys (created, id);
    `,
  },
  {
    name: '006_account_disabled',
    sql: `
      ALTER TABLE accounts ADD COLUMN disabled SMALLINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
    `,
  },
  {
    // The audit log (SPEC §10). BY DEFAULT (not ALWAYS): an import keeps the source's ids and then
    // moves the sequence past them. An identity never goes back, so a cursor (an id) never points
    // into entries written later.
    name: '007_audit',
    sql: `
      CREATE TABLE audit_log (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
        actor_kind TEXT NOT NULL CHECK (actor_kind IN ('token', 'admin', 'cli', 'web')),
        actor_id TEXT,
        account TEXT COLLATE "C",
        action TEXT NOT NULL,
        target TEXT,
        ip TEXT,
        details TEXT
      );
      CREATE INDEX audit_log_by_account ON audit_log (account, id);
      CREATE INDEX audit_log_by_action ON audit_log (action, id);
      CREATE INDEX audit_log_by_at ON audit_log (at);
    `,
  },
]);
