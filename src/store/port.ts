/**
 * The store port: everything tokenbox keeps, shaped by its use cases. Every backend (memory,
 * SQLite, later PostgreSQL) implements it and passes `test/store-contract.ts`.
 *
 * Conventions: times are Unix milliseconds; methods are async (PostgreSQL is); each method is
 * atomic on its own; "the change log" is `token_changes(seq, token_id, kind, at)`, appended in
 * the same transaction as the change it records (SPEC §7), with `seq` strictly increasing.
 */
import type { AuditAction, AuditActor } from '../domain/audit.js';
import type { StoredUsage } from '../domain/token-format.js';
import type { AllowedApplication } from '../domain/url-rules.js';

/**
 * One audit entry to write (SPEC §10). A write method of the port that takes one writes it in the
 * same transaction as its change, and only when the change is made: a refused, failed or no-op
 * call writes no entry. Never a token string, a password or a hash in any field.
 */
export interface AuditEntryInput {
  readonly at: number;
  readonly actor: AuditActor;
  /** The account the change is about; null when none (an admin key, a signing key). */
  readonly account: string | null;
  readonly action: AuditAction;
  /** The id of what changed (a token, an admin key, a signing key); null when the account is all. */
  readonly target: string | null;
  /** The client's address for HTTP; null for the CLI. */
  readonly ip: string | null;
  /** Extra fields of the entry (a JSON object), e.g. `token.update`'s `changes`. */
  readonly details?: Readonly<Record<string, unknown>> | null;
}

/** A stored entry; `id` grows with every entry written (newest first is highest id first). */
export interface AuditEntry extends AuditEntryInput {
  readonly id: number;
  readonly details: Readonly<Record<string, unknown>> | null;
}

export interface AuditQuery {
  readonly account?: string;
  readonly action?: AuditAction;
  /** Page size; none when < 1. */
  readonly limit: number;
  /** Entries with an id strictly below this one (the keyset cursor); from the newest when absent. */
  readonly before?: number;
}

/**
 * What `token.update` records beyond the common fields: the fields whose value changed (wire
 * names) and the scopes before and after. Computed by the store from the record it read inside
 * the update's transaction, so "before" is what was replaced.
 */
export function tokenUpdateChanges(before: TokenRecord, after: TokenRecord): Record<string, unknown> {
  const fields: string[] = [];
  if (before.note !== after.note) fields.push('note');
  if (JSON.stringify(before.scopes) !== JSON.stringify(after.scopes)) fields.push('scopes');
  if (JSON.stringify(before.allowedUrls) !== JSON.stringify(after.allowedUrls)) fields.push('allowedUrls');
  if (JSON.stringify(before.allowedApplications) !== JSON.stringify(after.allowedApplications)) fields.push('allowedApplications');
  return { changes: { fields, scopesBefore: [...before.scopes], scopesAfter: [...after.scopes] } };
}

export interface AccountRecord {
  readonly username: string;
  readonly created: number;
}

export type { AllowedApplication };

/** An account as the operators' API lists it (SPEC §10): with the number of tokens it holds. */
export interface AccountOverview {
  readonly username: string;
  readonly created: number;
  /** pk/sk tokens the account holds now, its default token included. */
  readonly tokenCount: number;
  /** Disabled (SPEC §10): its tokens, sessions and password are refused until it is enabled. */
  readonly disabled: boolean;
}

/** A position in the account list: accounts up to and including (created, username) are skipped. */
export interface AccountCursor {
  readonly created: number;
  readonly username: string;
}

/**
 * An operator's admin key (SPEC §10). The key string is never stored: only its SHA-256, so a
 * copy of the database authenticates nobody.
 */
export interface AdminKeyRecord {
  readonly id: string;
  readonly note: string;
  /** SHA-256 (base64url) of the whole `tba_…` string; unique. */
  readonly keyHash: string;
  readonly created: number;
}

export interface TokenRecord {
  readonly id: string;
  readonly username: string;
  readonly usage: StoredUsage;
  readonly note: string;
  readonly scopes: readonly string[];
  readonly allowedUrls: readonly string[] | null;
  readonly allowedApplications: readonly AllowedApplication[] | null;
  readonly isDefault: boolean;
  /** SHA-256 (base64) of the whole token string; unique. */
  readonly tokenHash: string;
  /** pk only: the token string sealed with the key-encryption key; null for sk. */
  readonly sealedToken: string | null;
  readonly created: number;
  readonly modified: number;
  /** Id of the token that created this one, or `cli` / `web`, or `admin:<key id>` (SPEC §10). */
  readonly createdBy: string;
  readonly lastUsed: number | null;
}

/** Fields a PATCH may change; an absent key keeps the stored value, `null` clears a restriction. */
export interface TokenPatch {
  readonly note?: string;
  readonly scopes?: readonly string[];
  readonly allowedUrls?: readonly string[] | null;
  readonly allowedApplications?: readonly AllowedApplication[] | null;
}

export type SortBy = 'created' | 'modified';

/** A position in a list: the item at (sortValue, id) and everything before it are skipped. */
export interface ListCursor {
  readonly sortValue: number;
  readonly id: string;
}

export interface ListQuery {
  readonly sortBy: SortBy;
  /** Newest first, ties by id descending; items strictly after `after` in that order. */
  readonly after: ListCursor | null;
  readonly limit: number;
  readonly usage?: StoredUsage;
  readonly isDefault?: boolean;
  /**
   * A budget for one page's work (SPEC §4.2: a page stops once its body passes 1 MiB). When set,
   * the store stops reading once the `storedSize` of the rows it has taken adds up to at least
   * `maxBytes`, then takes one row more if there is one (so the caller can tell that more
   * remain). Never fewer than one row when any match. Without it, exactly `limit` rows or all.
   */
  readonly maxBytes?: number;
}

/**
 * What a record weighs in a list body, as the store sees it: its note, scopes and restrictions
 * as JSON text (the form SQL backends keep them in). Never more than the record's serialised
 * token object, so a page cut by the store's estimate is cut no later than by the exact size.
 */
export function storedSize(record: TokenRecord): number {
  return (
    record.note.length +
    JSON.stringify(record.scopes).length +
    (record.allowedUrls === null ? 0 : JSON.stringify(record.allowedUrls).length) +
    (record.allowedApplications === null ? 0 : JSON.stringify(record.allowedApplications).length)
  );
}

/**
 * The rows one page takes from `rows` (already in list order), by ListQuery's rules: at most
 * `limit`; with `maxBytes`, once the rows taken weigh (by `sizeOf`) at least `maxBytes`, one row
 * more if there is one, then stop. It pulls no row from `rows` after the last one it takes, so a
 * lazy source (a database cursor) is read no further than the page. Shared by the backends so
 * they cut pages alike.
 */
export function takePage<T>(rows: Iterable<T>, query: Pick<ListQuery, 'limit' | 'maxBytes'>, sizeOf: (row: T) => number): T[] {
  const limit = Math.floor(query.limit);
  const taken: T[] = [];
  if (!(limit >= 1)) return taken;
  const budget = query.maxBytes;
  let weight = 0;
  for (const row of rows) {
    const spent = budget !== undefined && weight >= budget;
    taken.push(row);
    if (spent || taken.length >= limit) break;
    if (budget !== undefined) weight += sizeOf(row);
  }
  return taken;
}

/**
 * `update` and `delete` record a change to the token `tokenId`; `key` records a signing-key
 * rotation (`tokenId` is then the new key's id), so every follower reloads its keyring.
 */
export type ChangeKind = 'update' | 'delete' | 'key';

export interface TokenChange {
  readonly seq: number;
  /** The token's id; for a `key` change, the new signing key's id. */
  readonly tokenId: string;
  readonly kind: ChangeKind;
  readonly at: number;
}

export interface SigningKeyRecord {
  readonly id: string;
  /** The HMAC key sealed with the key-encryption key (never the raw key). */
  readonly sealedKey: string;
  readonly created: number;
  /** When a newer key took over signing; null for the key that signs now. */
  readonly retired: number | null;
}

/** Milliseconds in a UTC day: usage is counted per UTC day (SPEC §5). */
export const DAY_MS = 86_400_000;

/** The start (Unix ms) of the UTC day holding `ms`: the `day` of usage rows. */
export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** Verified requests of one token on one UTC day, as one flush adds them. */
export interface UsageIncrement {
  /** A pk/sk id (a tk's requests are counted toward its `p`). */
  readonly tokenId: string;
  /** The UTC day's start, Unix ms (`utcDay`). */
  readonly day: number;
  /** Requests to add, at least 1. */
  readonly count: number;
  /** The latest request's time (Unix ms): `lastUsed` rises to it, never falls. */
  readonly lastUsed: number;
}

export interface DailyUsage {
  /** The UTC day's start, Unix ms. */
  readonly day: number;
  readonly count: number;
}

/**
 * A signed-in session of the Access tokens page (SPEC §9). The id the browser holds is never
 * stored: only its SHA-256, so a copy of the database signs nobody in.
 */
export interface SessionRecord {
  /** SHA-256 (base64url) of the session id in the cookie. */
  readonly idHash: string;
  readonly username: string;
  readonly created: number;
  /** When the session ends, whatever happens before (Unix ms). */
  readonly expires: number;
}

/**
 * A create made with an `Idempotency-Key` (SPEC §9 [ext]): what a repeat of the same key on the
 * same account answers for 24 h instead of creating a second token.
 */
export interface IdempotencyRecord {
  /** The client's `Idempotency-Key`, unique per account. */
  readonly key: string;
  /** SHA-256 of the request's canonical input: a repeat with another body is refused. */
  readonly requestHash: string;
  /** The create's response, sealed (it holds the token string, an sk's included). */
  readonly sealedResponse: string;
  readonly created: number;
}

/** What `insertTokenOnce` did. */
export type InsertOnceResult =
  | { readonly kind: 'inserted' }
  /** The account holds `maxTokens` already; nothing was written. */
  | { readonly kind: 'full' }
  /** The key was used before on this account: nothing was written; this is what it recorded. */
  | { readonly kind: 'replay'; readonly record: IdempotencyRecord };

/** What one `pruneExpired` removed. */
export interface PruneResult {
  readonly sessions: number;
  readonly idempotencyKeys: number;
}

export interface MigrationResult {
  /** Names of the migrations this call applied, in order; empty when already current. */
  readonly applied: readonly string[];
}

/** Told how long each store call took (the metrics' store latency); see `store/timed-store.ts`. */
export interface StoreObserver {
  /** Called once per settled call: the port method's name, its duration in seconds, and whether it failed. */
  observe: (method: string, seconds: number, failed: boolean) => void;
}

export interface Store {
  /** Applies pending numbered migrations, recorded in a table; safe to call from every process. */
  migrate(): Promise<MigrationResult>;
  /** Resolves when the store answers; rejects when it is unreachable. */
  ping(): Promise<void>;
  /**
   * Optional: a store that can push (PostgreSQL's LISTEN/NOTIFY) calls `onChange` soon after the
   * change log grows, so followers read it at once. Returns the unsubscribe. A hint only: the
   * followers' poll stays the guarantee, so a missed or late call loses nothing.
   */
  watchChanges?(onChange: () => void): () => void;
  close(): Promise<void>;

  /**
   * Creates an account together with its default public token (and, for the page, its password
   * hash), atomically: all or nothing. Returns false (and writes nothing) when the username exists.
   */
  createAccount(account: AccountRecord, defaultToken: TokenRecord, passwordHash?: string | null, audit?: readonly AuditEntryInput[]): Promise<boolean>;
  getAccount(username: string): Promise<AccountRecord | null>;
  /** All accounts, oldest first (ties by username). */
  listAccounts(): Promise<AccountRecord[]>;
  /** The account with its token count, or null; one indexed read (a consistent snapshot). */
  getAccountOverview(username: string): Promise<AccountOverview | null>;
  /**
   * One page of accounts with their token counts, oldest first, ties by username: at most
   * `limit` (none when `limit < 1`), strictly after `after`. A keyset read: the cost does not
   * grow with the cursor's depth, and an account created or deleted between pages neither
   * shifts nor repeats the others. Each page is one read; pages are not one snapshot.
   */
  listAccountOverviews(after: AccountCursor | null, limit: number): Promise<AccountOverview[]>;

  /**
   * Disables or enables the account (SPEC §10), and appends an `update` change for each of its
   * tokens, in one transaction, so every follower drops them from its cache and reads them again.
   * While disabled, the verification reads (`findTokenByHash`, `findTokenById`) find none of its
   * tokens, `getPasswordHash` answers null and `findSession` finds none of its sessions; nothing
   * is deleted, so enabling it restores them all. Setting the state it already has writes
   * nothing. False when there is no such account.
   */
  setAccountDisabled(username: string, disabled: boolean, at: number, audit?: AuditEntryInput): Promise<boolean>;
  /**
   * Deletes the account and everything of it in one transaction: every token (each with its
   * `delete` change and hash, as `deleteToken` writes, so tombstones keep its tks refused even
   * after the username is reused), their usage, its sessions and Idempotency-Keys. False when
   * there is no such account.
   */
  deleteAccount(username: string, at: number, audit?: AuditEntryInput): Promise<boolean>;

  /**
   * Inserts a token unless the account already holds `maxTokens` (counted in the same
   * transaction, so concurrent inserts cannot overshoot). Returns false when full.
   */
  insertToken(token: TokenRecord, maxTokens: number, audit?: AuditEntryInput): Promise<boolean>;
  /** The token with this hash, for verification; one indexed read. None of a disabled account. */
  findTokenByHash(tokenHash: string): Promise<TokenRecord | null>;
  /** The token with this id if it belongs to `username`. */
  getToken(username: string, id: string): Promise<TokenRecord | null>;
  /** The pk/sk with this id, in any account, or null: a tk's root `p`, read by id. None of a disabled account. */
  findTokenById(id: string): Promise<TokenRecord | null>;
  /**
   * The hash of the token with this id if the change log records its delete, else null: tells a
   * revoked token (same hash) from a forged one after the row is gone.
   */
  deletedTokenHash(id: string): Promise<string | null>;
  /** One page in keyset order (see ListQuery); the cost does not grow with the cursor's depth. */
  listTokens(username: string, query: ListQuery): Promise<TokenRecord[]>;
  /**
   * Applies the patch, sets `modified`, and appends an `update` change, atomically.
   * Returns the new record, or null when no such token belongs to `username`.
   */
  updateToken(username: string, id: string, patch: TokenPatch, modified: number, audit?: AuditEntryInput): Promise<TokenRecord | null>;
  /**
   * Deletes the token and appends a `delete` change (with the token's hash), atomically.
   * False when there was none.
   */
  deleteToken(username: string, id: string, at: number, audit?: AuditEntryInput): Promise<boolean>;
  /**
   * Refresh: deletes the account's default token `oldId` and inserts `replacement` (a default pk)
   * in one transaction, with a `delete` change for the old id. False when `oldId` is not the
   * account's default token (nothing is written).
   */
  replaceDefaultToken(username: string, oldId: string, replacement: TokenRecord, at: number, audit?: AuditEntryInput): Promise<boolean>;
  /** Rewrites the scopes of every default token (start-up re-derivation); no change-log entry unless changed. */
  setDefaultTokenScopes(scopes: readonly string[], at: number): Promise<number>;

  /**
   * Like `insertToken`, and records `once` under (`token.username`, `once.key`) in the same
   * transaction. When that key is already recorded for the account, writes nothing and returns
   * the recorded entry (checked before the token limit), so of two concurrent creates with one
   * key exactly one inserts and the other replays it.
   */
  insertTokenOnce(token: TokenRecord, maxTokens: number, once: IdempotencyRecord, audit?: AuditEntryInput): Promise<InsertOnceResult>;

  /** The account's argon2id password hash (SPEC §9), or null: no such account, or no password set. */
  getPasswordHash(username: string): Promise<string | null>;
  /**
   * Sets the account's password hash and ends every session of the account, in one transaction
   * (SPEC §9: a password change signs everyone out). False when there is no such account.
   */
  setPasswordHash(username: string, passwordHash: string, audit?: AuditEntryInput): Promise<boolean>;
  /** Stores a new session. False (nothing written) when its account does not exist. */
  createSession(session: SessionRecord, audit?: AuditEntryInput): Promise<boolean>;
  /** The session with this id hash if it exists and `expires > now`, else null. One indexed read. */
  findSession(idHash: string, now: number): Promise<SessionRecord | null>;
  /** Ends a session (sign-out). Ending one that is gone is no error. */
  deleteSession(idHash: string, audit?: AuditEntryInput): Promise<void>;
  /**
   * Removes sessions with `expires <= now` and idempotency records created before
   * `idempotencyBefore`, each in one statement; returns how many of each went.
   */
  pruneExpired(now: number, idempotencyBefore: number): Promise<PruneResult>;

  /**
   * Stores a new admin key. Atomic; a duplicate id or hash rejects and writes nothing. No
   * change-log entry: nothing caches admin keys (every admin request reads the store).
   */
  insertAdminKey(key: AdminKeyRecord, audit?: AuditEntryInput): Promise<void>;
  /** The admin key with this hash, or null; one indexed read. Sees a delete committed before it. */
  findAdminKeyByHash(keyHash: string): Promise<AdminKeyRecord | null>;
  /** Every admin key, oldest first, ties by id. */
  listAdminKeys(): Promise<AdminKeyRecord[]>;
  /**
   * Deletes the admin key; from the moment it returns, `findAdminKeyByHash` finds it in no
   * process. False (nothing written) when there was none; of two concurrent deletes one is true.
   */
  deleteAdminKey(id: string, audit?: AuditEntryInput): Promise<boolean>;

  /**
   * Audit writes: every write method above that takes an `audit` entry (or, for
   * `createAccount`, entries) writes it in the same transaction as its change, only when the
   * change is made (a refusal, a failure or a no-op writes none). `updateToken` adds
   * `tokenUpdateChanges(before, after)` to its entry's details. `appendAudit` writes an entry
   * that records no change of the store (`session.sign_in_failed`), in one statement.
   */
  appendAudit(entry: AuditEntryInput): Promise<void>;
  /**
   * One page of entries, newest first (highest id first), filtered by account and action: at most
   * `limit`, ids strictly below `before`. A keyset read (an index range seek), one snapshot per page.
   */
  listAudit(query: AuditQuery): Promise<AuditEntry[]>;
  /**
   * Removes entries with `at < before` (retention), in batches, each its own short transaction
   * through the lock wait, so a big backlog never holds the write lock for long. Returns how many went.
   */
  pruneAudit(before: number): Promise<number>;

  /** Changes with `seq > afterSeq`, oldest first, at most `limit`. */
  changesSince(afterSeq: number, limit: number): Promise<TokenChange[]>;
  /** `delete` changes with `at >= sinceAt`, oldest first: the tombstones a starting node loads. */
  recentDeletes(sinceAt: number): Promise<TokenChange[]>;
  /** The highest `seq` written so far (0 when none). */
  latestChangeSeq(): Promise<number>;
  /**
   * Removes change-log entries with `at < before` (housekeeping), in batches, each its own short
   * transaction, but never the newest entry, so `latestChangeSeq` never goes back. Returns how
   * many went.
   */
  pruneChanges(before: number): Promise<number>;
  /**
   * Runs a periodic job (`job` names it) on one process at a time across everything sharing this
   * store: PostgreSQL takes an advisory lock for it and skips the job when another node holds it;
   * a single-machine store just runs it. True when `run` ran here.
   */
  runExclusive(job: string, run: () => Promise<void>): Promise<boolean>;

  /** Every signing key, newest first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /**
   * Adds a signing key and retires (sets `retired = key.created` on) every unretired key, and
   * appends a `key` change (tokenId = the new key's id, at = key.created), in one transaction,
   * so exactly one key signs at any time and every follower learns of the rotation.
   */
  addSigningKey(key: SigningKeyRecord, audit?: AuditEntryInput): Promise<void>;

  /**
   * Adds a flush of usage counts (SPEC §5), in ONE transaction: every row's count is added to
   * its token's day (rows for the same token and day add up), and each token's `lastUsed` is
   * raised to the row's `lastUsed` when that is later (never lowered). No change-log entry and no
   * `modified` change: usage is not a change to the token, so no node's cache is invalidated.
   * Rows naming a token that does not exist (deleted since its requests were counted) are
   * dropped, and the rest of the batch still applies: a token's usage goes with the token.
   * Concurrent calls (several processes) add up; none loses another's counts.
   * @throws TypeError for a row whose `day` is not a UTC day start or whose `count` is not a
   *   positive integer (nothing is written).
   */
  addUsage(batch: readonly UsageIncrement[]): Promise<void>;
  /** The token's days with requests in `fromDay..toDay` (inclusive UTC day starts), oldest first. */
  usageByDay(tokenId: string, fromDay: number, toDay: number): Promise<DailyUsage[]>;
}

/** The check `createAccount` makes before it writes anything: the token is the account's default. */
export function assertDefaultTokenOf(account: AccountRecord, defaultToken: TokenRecord): void {
  if (defaultToken.username !== account.username || !defaultToken.isDefault) {
    throw new TypeError('createAccount needs a default token of the same account');
  }
}

/** The check `addUsage` makes of every row before it writes anything. */
export function assertUsageBatch(batch: readonly UsageIncrement[]): void {
  for (const row of batch) {
    if (row.day % DAY_MS !== 0 || !Number.isSafeInteger(row.day)) throw new TypeError(`usage day ${row.day} is not a UTC day start`);
    if (!Number.isSafeInteger(row.count) || row.count < 1) throw new TypeError(`usage count ${row.count} is not a positive integer`);
    if (!Number.isSafeInteger(row.lastUsed)) throw new TypeError(`usage lastUsed ${row.lastUsed} is not a time`);
  }
}

/** An absent (or undefined) key keeps the stored value; `null` clears a restriction. */
export function applyPatch(token: TokenRecord, patch: TokenPatch, modified: number): TokenRecord {
  return {
    ...token,
    note: patch.note ?? token.note,
    scopes: patch.scopes ?? token.scopes,
    allowedUrls: patch.allowedUrls === undefined ? token.allowedUrls : patch.allowedUrls,
    allowedApplications: patch.allowedApplications === undefined ? token.allowedApplications : patch.allowedApplications,
    modified,
  };
}
