/**
 * The in-memory backend, for unit tests and throwaway runs. It honours the whole port contract
 * and the constraints the SQL schema enforces (unique id and hash, one default token per
 * account, a token's account exists), so code tested against it behaves the same on SQLite.
 *
 * Atomicity: no method awaits anything, so each runs to completion before another starts; each
 * checks everything it can refuse before its first write, so a refused call writes nothing.
 * Records are copied and frozen on the way in, so neither the caller who wrote one nor a caller
 * who read one can change what is stored.
 */
import type {
  AccountCursor,
  AccountOverview,
  AccountRecord,
  AdminKeyRecord,
  AuditEntry,
  AuditEntryInput,
  AuditQuery,
  DailyUsage,
  IdempotencyRecord,
  InsertOnceResult,
  ListCursor,
  ListQuery,
  MigrationResult,
  PruneResult,
  SessionRecord,
  SigningKeyRecord,
  SortBy,
  Store,
  TokenChange,
  TokenPatch,
  TokenRecord,
  UsageIncrement,
} from '../port.js';
import { AppError } from '../../domain/errors.js';
import { applyPatch, assertDefaultTokenOf, assertUsageBatch, storedSize, takePage, tokenUpdateChanges } from '../port.js';
import type { ImportWriter, StoreContents, TransferableStore, TransferRecord } from '../transfer.js';

export class MemoryStore implements Store, TransferableStore {
  private readonly accounts = new Map<string, AccountRecord>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly idsByHash = new Map<string, string>();
  private changes: TokenChange[] = [];
  private readonly deletedHashes = new Map<string, string>();
  private signingKeys: SigningKeyRecord[] = [];
  /** token id → UTC day start → requests; removed with the token. */
  private readonly usage = new Map<string, Map<number, number>>();
  /** Usernames of disabled accounts. */
  private readonly disabled = new Set<string>();
  /** username → argon2id hash; absent: no password. */
  private readonly passwords = new Map<string, string>();
  /** id hash → session. */
  private readonly sessions = new Map<string, SessionRecord>();
  /** username + '\n' + key → record (a newline is in no username). */
  private readonly idempotency = new Map<string, IdempotencyRecord>();
  /** id → admin key. */
  private readonly adminKeys = new Map<string, AdminKeyRecord>();
  /** The audit log, oldest first; ids grow by one per entry. */
  private audit: AuditEntry[] = [];
  private lastAuditId = 0;
  private lastSeq = 0;
  private closed = false;

  /** Nothing to migrate: the schema is this class. */
  async migrate(): Promise<MigrationResult> {
    this.assertOpen();
    return { applied: [] };
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async createAccount(
    account: AccountRecord,
    defaultToken: TokenRecord,
    passwordHash: string | null = null,
    audit: readonly AuditEntryInput[] = [],
  ): Promise<boolean> {
    this.assertOpen();
    assertDefaultTokenOf(account, defaultToken);
    if (this.accounts.has(account.username)) return false;
    this.assertInsertable(defaultToken, null);
    this.accounts.set(account.username, Object.freeze({ username: account.username, created: account.created }));
    if (passwordHash !== null) this.passwords.set(account.username, passwordHash);
    this.store(defaultToken);
    for (const entry of audit) this.writeAudit(entry);
    return true;
  }

  async getAccount(username: string): Promise<AccountRecord | null> {
    this.assertOpen();
    return this.accounts.get(username) ?? null;
  }

  async listAccounts(): Promise<AccountRecord[]> {
    this.assertOpen();
    return [...this.accounts.values()].sort((a, b) => a.created - b.created || compareText(a.username, b.username));
  }

  async getAccountOverview(username: string): Promise<AccountOverview | null> {
    this.assertOpen();
    const account = this.accounts.get(username);
    return account === undefined ? null : this.overview(account);
  }

  /** Sorts every account on every call: fine for tests, not for a million accounts. */
  async listAccountOverviews(after: AccountCursor | null, limit: number): Promise<AccountOverview[]> {
    this.assertOpen();
    if (!(limit >= 1)) return [];
    const accounts = await this.listAccounts();
    return accounts
      .filter((a) => after === null || a.created > after.created || (a.created === after.created && a.username > after.username))
      .slice(0, Math.floor(limit))
      .map((a) => this.overview(a));
  }

  async insertAdminKey(key: AdminKeyRecord, audit?: AuditEntryInput): Promise<void> {
    this.assertOpen();
    if (this.adminKeys.has(key.id)) throw new Error(`duplicate admin key id ${key.id}`);
    if ([...this.adminKeys.values()].some((k) => k.keyHash === key.keyHash)) throw new Error('duplicate admin key hash');
    this.adminKeys.set(key.id, Object.freeze({ id: key.id, note: key.note, keyHash: key.keyHash, created: key.created }));
    this.writeAudit(audit);
  }

  async findAdminKeyByHash(keyHash: string): Promise<AdminKeyRecord | null> {
    this.assertOpen();
    for (const key of this.adminKeys.values()) if (key.keyHash === keyHash) return key;
    return null;
  }

  async listAdminKeys(): Promise<AdminKeyRecord[]> {
    this.assertOpen();
    return [...this.adminKeys.values()].sort((a, b) => a.created - b.created || compareText(a.id, b.id));
  }

  async deleteAdminKey(id: string, audit?: AuditEntryInput): Promise<boolean> {
    this.assertOpen();
    if (!this.adminKeys.delete(id)) return false;
    this.writeAudit(audit);
    return true;
  }

  async insertToken(token: TokenRecord, maxTokens: number, audit?: AuditEntryInput): Promise<boolean> {
    this.assertOpen();
    return this.insertNow(token, maxTokens, audit);
  }

  async insertTokenOnce(token: TokenRecord, maxTokens: number, once: IdempotencyRecord, audit?: AuditEntryInput): Promise<InsertOnceResult> {
    this.assertOpen();
    const slot = `${token.username}\n${once.key}`;
    const recorded = this.idempotency.get(slot);
    if (recorded !== undefined) return { kind: 'replay', record: recorded };
    // No await between the look-up and the insert: concurrent calls cannot both miss the key.
    if (!this.insertNow(token, maxTokens, audit)) return { kind: 'full' };
    this.idempotency.set(slot, Object.freeze({ ...once }));
    return { kind: 'inserted' };
  }

  async getPasswordHash(username: string): Promise<string | null> {
    this.assertOpen();
    return this.disabled.has(username) ? null : (this.passwords.get(username) ?? null);
  }

  async setPasswordHash(username: string, passwordHash: string, audit?: AuditEntryInput): Promise<boolean> {
    this.assertOpen();
    if (!this.accounts.has(username)) return false;
    this.passwords.set(username, passwordHash);
    for (const [idHash, session] of this.sessions) if (session.username === username) this.sessions.delete(idHash);
    this.writeAudit(audit);
    return true;
  }

  async createSession(session: SessionRecord, audit?: AuditEntryInput): Promise<boolean> {
    this.assertOpen();
    if (!this.accounts.has(session.username)) return false;
    if (this.sessions.has(session.idHash)) throw new Error('duplicate session id');
    this.sessions.set(session.idHash, Object.freeze({ ...session }));
    this.writeAudit(audit);
    return true;
  }

  async findSession(idHash: string, now: number): Promise<SessionRecord | null> {
    this.assertOpen();
    const session = this.sessions.get(idHash);
    return session !== undefined && session.expires > now && !this.disabled.has(session.username) ? session : null;
  }

  async deleteSession(idHash: string, audit?: AuditEntryInput): Promise<void> {
    this.assertOpen();
    if (this.sessions.delete(idHash)) this.writeAudit(audit);
  }

  async pruneExpired(now: number, idempotencyBefore: number): Promise<PruneResult> {
    this.assertOpen();
    let sessions = 0;
    let idempotencyKeys = 0;
    for (const [idHash, session] of this.sessions) if (session.expires <= now && this.sessions.delete(idHash)) sessions += 1;
    for (const [slot, record] of this.idempotency) if (record.created < idempotencyBefore && this.idempotency.delete(slot)) idempotencyKeys += 1;
    return { sessions, idempotencyKeys };
  }

  async findTokenByHash(tokenHash: string): Promise<TokenRecord | null> {
    this.assertOpen();
    const id = this.idsByHash.get(tokenHash);
    return id === undefined ? null : this.enabled(this.tokens.get(id));
  }

  async getToken(username: string, id: string): Promise<TokenRecord | null> {
    this.assertOpen();
    const token = this.tokens.get(id);
    return token !== undefined && token.username === username ? token : null;
  }

  async findTokenById(id: string): Promise<TokenRecord | null> {
    this.assertOpen();
    return this.enabled(this.tokens.get(id));
  }

  async setAccountDisabled(username: string, disabled: boolean, at: number, audit?: AuditEntryInput): Promise<boolean> {
    this.assertOpen();
    if (!this.accounts.has(username)) return false;
    if (this.disabled.has(username) === disabled) return true;
    if (disabled) this.disabled.add(username);
    else this.disabled.delete(username);
    for (const token of this.tokensOf(username).sort((a, b) => compareText(a.id, b.id))) this.appendChange(token.id, 'update', at);
    this.writeAudit(audit);
    return true;
  }

  async deleteAccount(username: string, at: number, audit?: AuditEntryInput): Promise<boolean> {
    this.assertOpen();
    if (!this.accounts.has(username)) return false;
    for (const token of this.tokensOf(username).sort((a, b) => compareText(a.id, b.id))) {
      this.remove(token);
      this.appendChange(token.id, 'delete', at);
    }
    for (const [idHash, session] of this.sessions) if (session.username === username) this.sessions.delete(idHash);
    for (const slot of this.idempotency.keys()) if (slot.startsWith(`${username}\n`)) this.idempotency.delete(slot);
    this.passwords.delete(username);
    this.disabled.delete(username);
    this.accounts.delete(username);
    this.writeAudit(audit);
    return true;
  }

  async deletedTokenHash(id: string): Promise<string | null> {
    this.assertOpen();
    return this.deletedHashes.get(id) ?? null;
  }

  /** Filters and sorts the account's tokens on every call: fine for tests, not for 100k rows. */
  async listTokens(username: string, query: ListQuery): Promise<TokenRecord[]> {
    this.assertOpen();
    if (!(query.limit >= 1)) return [];
    const { sortBy, after, usage, isDefault } = query;
    const matching = this.tokensOf(username)
      .filter((t) => usage === undefined || t.usage === usage)
      .filter((t) => isDefault === undefined || t.isDefault === isDefault)
      .filter((t) => after === null || isAfter(t, sortBy, after))
      .sort((a, b) => compareNewestFirst(a, b, sortBy));
    return takePage(matching, query, storedSize);
  }

  async updateToken(username: string, id: string, patch: TokenPatch, modified: number, audit?: AuditEntryInput): Promise<TokenRecord | null> {
    this.assertOpen();
    const current = this.tokens.get(id);
    if (current === undefined || current.username !== username) return null;
    const next = freezeToken(applyPatch(current, patch, modified));
    this.tokens.set(id, next);
    this.appendChange(id, 'update', modified);
    if (audit !== undefined) this.writeAudit({ ...audit, details: { ...audit.details, ...tokenUpdateChanges(current, next) } });
    return next;
  }

  async deleteToken(username: string, id: string, at: number, audit?: AuditEntryInput): Promise<boolean> {
    this.assertOpen();
    const token = this.tokens.get(id);
    if (token === undefined || token.username !== username) return false;
    this.remove(token);
    this.appendChange(id, 'delete', at);
    this.writeAudit(audit);
    return true;
  }

  async replaceDefaultToken(username: string, oldId: string, replacement: TokenRecord, at: number, audit?: AuditEntryInput): Promise<boolean> {
    this.assertOpen();
    if (replacement.username !== username || !replacement.isDefault) {
      throw new TypeError('replaceDefaultToken needs a default token of the same account');
    }
    const old = this.tokens.get(oldId);
    if (old === undefined || old.username !== username || !old.isDefault) return false;
    this.assertInsertable(replacement, oldId);
    this.remove(old);
    this.store(replacement);
    this.appendChange(oldId, 'delete', at);
    this.writeAudit(audit);
    return true;
  }

  async setDefaultTokenScopes(scopes: readonly string[], at: number): Promise<number> {
    this.assertOpen();
    const changed = [...this.tokens.values()].filter((t) => t.isDefault && !sameList(t.scopes, scopes)).sort((a, b) => compareText(a.id, b.id));
    for (const token of changed) {
      this.tokens.set(token.id, freezeToken({ ...token, scopes, modified: at }));
      this.appendChange(token.id, 'update', at);
    }
    return changed.length;
  }

  async changesSince(afterSeq: number, limit: number): Promise<TokenChange[]> {
    this.assertOpen();
    if (!(limit >= 1)) return [];
    return this.changes.filter((c) => c.seq > afterSeq).slice(0, Math.floor(limit));
  }

  async recentDeletes(sinceAt: number): Promise<TokenChange[]> {
    this.assertOpen();
    return this.changes.filter((c) => c.kind === 'delete' && c.at >= sinceAt);
  }

  async latestChangeSeq(): Promise<number> {
    this.assertOpen();
    return this.lastSeq;
  }

  async pruneChanges(before: number): Promise<number> {
    this.assertOpen();
    const newest = this.changes.at(-1);
    const kept = this.changes.filter((c) => c.at >= before || c === newest);
    for (const c of this.changes) if (c.kind === 'delete' && !kept.includes(c)) this.deletedHashes.delete(c.tokenId);
    const removed = this.changes.length - kept.length;
    this.changes = kept;
    return removed;
  }

  async runExclusive(_job: string, run: () => Promise<void>): Promise<boolean> {
    this.assertOpen();
    await run();
    return true;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    this.assertOpen();
    return [...this.signingKeys].sort((a, b) => b.created - a.created || compareText(b.id, a.id));
  }

  async addSigningKey(key: SigningKeyRecord, audit?: AuditEntryInput): Promise<void> {
    this.assertOpen();
    if (this.signingKeys.some((k) => k.id === key.id)) throw new Error(`duplicate signing key id ${key.id}`);
    this.signingKeys = this.signingKeys.map((k) => (k.retired === null ? Object.freeze({ ...k, retired: key.created }) : k));
    this.signingKeys.push(Object.freeze({ id: key.id, sealedKey: key.sealedKey, created: key.created, retired: key.retired }));
    this.appendChange(key.id, 'key', key.created);
    this.writeAudit(audit);
  }

  async appendAudit(entry: AuditEntryInput): Promise<void> {
    this.assertOpen();
    this.writeAudit(entry);
  }

  async listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    this.assertOpen();
    if (!(query.limit >= 1)) return [];
    const page: AuditEntry[] = [];
    for (let i = this.audit.length - 1; i >= 0 && page.length < Math.floor(query.limit); i -= 1) {
      const entry = this.audit[i] as AuditEntry;
      if (query.before !== undefined && entry.id >= query.before) continue;
      if (query.account !== undefined && entry.account !== query.account) continue;
      if (query.action !== undefined && entry.action !== query.action) continue;
      page.push(entry);
    }
    return page;
  }

  async pruneAudit(before: number): Promise<number> {
    this.assertOpen();
    const kept = this.audit.filter((entry) => entry.at >= before);
    const removed = this.audit.length - kept.length;
    this.audit = kept;
    return removed;
  }

  async addUsage(batch: readonly UsageIncrement[]): Promise<void> {
    this.assertOpen();
    assertUsageBatch(batch);
    for (const row of batch) {
      const token = this.tokens.get(row.tokenId);
      if (token === undefined) continue;
      let days = this.usage.get(row.tokenId);
      if (days === undefined) this.usage.set(row.tokenId, (days = new Map<number, number>()));
      days.set(row.day, (days.get(row.day) ?? 0) + row.count);
      // Replaced, not edited: records handed out earlier stay as they were read.
      if (token.lastUsed === null || token.lastUsed < row.lastUsed) this.tokens.set(token.id, freezeToken({ ...token, lastUsed: row.lastUsed }));
    }
  }

  async usageByDay(tokenId: string, fromDay: number, toDay: number): Promise<DailyUsage[]> {
    this.assertOpen();
    const days = this.usage.get(tokenId);
    if (days === undefined) return [];
    return [...days]
      .filter(([day]) => day >= fromDay && day <= toDay)
      .sort((a, b) => a[0] - b[0])
      .map(([day, count]) => Object.freeze({ day, count }));
  }

  /**
   * The snapshot is taken at the first `next()` (as an SQL backend's first read fixes it): every
   * record is listed then, so writes made while the consumer iterates are not in it. Memory holds
   * the whole store anyway; the pages are a SQL backend's concern.
   */
  async *exportRecords(): AsyncGenerator<TransferRecord> {
    this.assertOpen();
    yield* this.transferRecords();
  }

  /**
   * No lock to take: the writer stages the records (checked against a scratch store, so a bad
   * record rejects at `write`, as SQL constraints do) and `commit` applies them in one step,
   * refusing if the store is no longer empty by then. Nothing is visible before `commit`.
   */
  async beginImport(): Promise<{ readonly empty: true; readonly writer: ImportWriter } | { readonly empty: false; readonly contents: StoreContents }> {
    this.assertOpen();
    const contents = this.contents();
    if (!isEmpty(contents)) return { empty: false, contents };
    const scratch = new MemoryStore();
    let staged: TransferRecord[] | null = [];
    return {
      empty: true,
      writer: {
        write: async (records) => {
          if (staged === null) throw new Error('the import has ended');
          for (const record of records) scratch.importRecord(record);
          staged.push(...records);
        },
        commit: async () => {
          if (staged === null) throw new Error('the import has ended');
          const records = staged;
          staged = null;
          // Every check first (the scratch store has seen every record), then the one-step apply.
          scratch.finishImport();
          this.assertOpen();
          if (!isEmpty(this.contents())) throw new Error('the store was written to during the import');
          for (const record of records) this.importRecord(record);
          this.finishImport();
        },
        abort: async () => {
          staged = null;
        },
      },
    };
  }

  private contents(): StoreContents {
    return { accounts: this.accounts.size, signingKeys: this.signingKeys.length, adminKeys: this.adminKeys.size, auditEntries: this.audit.length };
  }

  private *transferRecords(): Generator<TransferRecord> {
    const records: TransferRecord[] = [];
    for (const account of this.accounts.values()) {
      const passwordHash = this.passwords.get(account.username) ?? null;
      records.push({ kind: 'account', ...account, passwordHash, disabled: this.disabled.has(account.username) });
    }
    for (const token of this.tokens.values()) records.push({ kind: 'token', ...token });
    for (const [tokenId, days] of this.usage) for (const [day, count] of days) records.push({ kind: 'usage', tokenId, day, count });
    for (const session of this.sessions.values()) records.push({ kind: 'session', ...session });
    for (const key of this.signingKeys) records.push({ kind: 'signingKey', ...key });
    for (const key of this.adminKeys.values()) records.push({ kind: 'adminKey', ...key });
    for (const change of this.changes) {
      const tokenHash = change.kind === 'delete' ? this.deletedHashes.get(change.tokenId) : undefined;
      if (tokenHash !== undefined) records.push({ kind: 'delete', tokenId: change.tokenId, at: change.at, tokenHash });
    }
    for (const entry of this.audit) records.push({ kind: 'audit', ...entry });
    yield* records;
  }

  /** Applies one imported record with the checks SQLite's constraints make; throws on a violation. */
  private importRecord(record: TransferRecord): void {
    switch (record.kind) {
      case 'account':
        if (this.accounts.has(record.username)) throw new Error(`duplicate account ${record.username}`);
        this.accounts.set(record.username, Object.freeze({ username: record.username, created: record.created }));
        if (record.passwordHash !== null) this.passwords.set(record.username, record.passwordHash);
        if (record.disabled) this.disabled.add(record.username);
        return;
      case 'token':
        if (!this.accounts.has(record.username)) throw new Error(`no account ${record.username}`);
        this.assertInsertable(record, null);
        this.store(record);
        return;
      case 'usage': {
        if (!this.tokens.has(record.tokenId)) throw new Error(`no token ${record.tokenId}`);
        let days = this.usage.get(record.tokenId);
        if (days === undefined) this.usage.set(record.tokenId, (days = new Map<number, number>()));
        if (days.has(record.day)) throw new Error(`duplicate usage of ${record.tokenId} on ${record.day}`);
        days.set(record.day, record.count);
        return;
      }
      case 'session':
        if (!this.accounts.has(record.username)) throw new Error(`no account ${record.username}`);
        if (this.sessions.has(record.idHash)) throw new Error('duplicate session id');
        this.sessions.set(record.idHash, Object.freeze({ idHash: record.idHash, username: record.username, created: record.created, expires: record.expires }));
        return;
      case 'signingKey':
        if (this.signingKeys.some((k) => k.id === record.id)) throw new Error(`duplicate signing key id ${record.id}`);
        this.signingKeys.push(Object.freeze({ id: record.id, sealedKey: record.sealedKey, created: record.created, retired: record.retired }));
        return;
      case 'adminKey':
        if (this.adminKeys.has(record.id)) throw new Error(`duplicate admin key id ${record.id}`);
        if ([...this.adminKeys.values()].some((k) => k.keyHash === record.keyHash)) throw new Error('duplicate admin key hash');
        this.adminKeys.set(record.id, Object.freeze({ id: record.id, note: record.note, keyHash: record.keyHash, created: record.created }));
        return;
      case 'delete':
        this.appendChange(record.tokenId, 'delete', record.at);
        this.deletedHashes.set(record.tokenId, record.tokenHash);
        return;
      case 'audit': {
        const { kind: _kind, ...entry } = record;
        this.audit.push(
          Object.freeze({ ...entry, actor: Object.freeze({ ...entry.actor }), details: entry.details === null ? null : structuredClone(entry.details) }),
        );
        return;
      }
    }
  }

  /** After the last record: the audit log in id order, ids unique, new ids continuing past them. */
  private finishImport(): void {
    this.audit.sort((a, b) => a.id - b.id);
    for (let i = 1; i < this.audit.length; i += 1) if (this.audit[i]?.id === this.audit[i - 1]?.id) throw new Error('duplicate audit id');
    this.lastAuditId = Math.max(this.lastAuditId, this.audit.at(-1)?.id ?? 0);
  }

  private insertNow(token: TokenRecord, maxTokens: number, audit: AuditEntryInput | undefined): boolean {
    // The same order as the SQL: count first, then the constraints of the insert.
    if (this.tokensOf(token.username).length >= maxTokens) return false;
    if (!this.accounts.has(token.username)) throw new Error(`no account ${token.username}`);
    this.assertInsertable(token, null);
    this.store(token);
    this.writeAudit(audit);
    return true;
  }

  /** The token unless its account is disabled (the verification reads' rule). */
  private enabled(token: TokenRecord | undefined): TokenRecord | null {
    return token === undefined || this.disabled.has(token.username) ? null : token;
  }

  private overview(account: AccountRecord): AccountOverview {
    return Object.freeze({
      username: account.username,
      created: account.created,
      tokenCount: this.tokensOf(account.username).length,
      disabled: this.disabled.has(account.username),
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError('unavailable', undefined, { cause: new Error('the memory store is closed') });
  }

  /** The checks SQLite's constraints make; `replacing` is a token removed in the same step. */
  private assertInsertable(token: TokenRecord, replacing: string | null): void {
    if (this.tokens.has(token.id) && token.id !== replacing) throw new Error(`duplicate token id ${token.id}`);
    const hashOwner = this.idsByHash.get(token.tokenHash);
    if (hashOwner !== undefined && hashOwner !== replacing) throw new Error('duplicate token hash');
    if (token.isDefault && this.tokensOf(token.username).some((t) => t.isDefault && t.id !== replacing)) {
      throw new Error(`account ${token.username} already has a default token`);
    }
  }

  private tokensOf(username: string): TokenRecord[] {
    return [...this.tokens.values()].filter((t) => t.username === username);
  }

  private store(token: TokenRecord): void {
    this.tokens.set(token.id, freezeToken(token));
    this.idsByHash.set(token.tokenHash, token.id);
  }

  private remove(token: TokenRecord): void {
    this.deletedHashes.set(token.id, token.tokenHash);
    this.tokens.delete(token.id);
    this.idsByHash.delete(token.tokenHash);
    this.usage.delete(token.id);
  }

  /** Copied and frozen, details through JSON as a SQL backend keeps them. */
  private writeAudit(entry: AuditEntryInput | undefined): void {
    if (entry === undefined) return;
    this.lastAuditId += 1;
    const details = entry.details === undefined || entry.details === null ? null : (JSON.parse(JSON.stringify(entry.details)) as Record<string, unknown>);
    this.audit.push(
      Object.freeze({
        id: this.lastAuditId,
        at: entry.at,
        actor: Object.freeze({ kind: entry.actor.kind, id: entry.actor.id }),
        account: entry.account,
        action: entry.action,
        target: entry.target,
        ip: entry.ip,
        details,
      }),
    );
  }

  private appendChange(tokenId: string, kind: TokenChange['kind'], at: number): void {
    this.lastSeq += 1;
    this.changes.push(Object.freeze({ seq: this.lastSeq, tokenId, kind, at }));
  }
}

function isEmpty(contents: StoreContents): boolean {
  return contents.accounts + contents.signingKeys + contents.adminKeys + contents.auditEntries === 0;
}

/** A deep, frozen copy holding only the record's own fields. */
function freezeToken(t: TokenRecord): TokenRecord {
  return Object.freeze({
    id: t.id,
    username: t.username,
    usage: t.usage,
    note: t.note,
    scopes: Object.freeze([...t.scopes]),
    allowedUrls: t.allowedUrls === null ? null : Object.freeze([...t.allowedUrls]),
    allowedApplications:
      t.allowedApplications === null ? null : Object.freeze(t.allowedApplications.map(({ platform, bundleId }) => Object.freeze({ platform, bundleId }))),
    isDefault: t.isDefault,
    tokenHash: t.tokenHash,
    sealedToken: t.sealedToken,
    created: t.created,
    modified: t.modified,
    createdBy: t.createdBy,
    lastUsed: t.lastUsed,
  });
}

/** Code-unit order, which for the ASCII ids and usernames is SQLite's BINARY collation. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareNewestFirst(a: TokenRecord, b: TokenRecord, sortBy: SortBy): number {
  return b[sortBy] - a[sortBy] || compareText(b.id, a.id);
}

/** Strictly after the cursor in newest-first order. */
function isAfter(t: TokenRecord, sortBy: SortBy, cursor: ListCursor): boolean {
  return t[sortBy] < cursor.sortValue || (t[sortBy] === cursor.sortValue && t.id < cursor.id);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
