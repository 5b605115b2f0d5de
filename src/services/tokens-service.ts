/**
 * Use cases on stored tokens (SPEC §4.2, §4.4): list, create, update, delete (refresh for the
 * default token). Inputs arrive shape-checked (request schemas); this layer enforces the rules
 * that need the caller, the catalog or the stored token.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { AppError, invalidField } from '../domain/errors.js';
import type { Sealer } from '../domain/sealer.js';
import type { ScopeCatalog } from '../domain/scopes.js';
import { hashToken, isTokenId, newStoredToken, newTokenId, type StoredUsage } from '../domain/token-format.js';
import { storedSize, type AllowedApplication, type ListCursor, type SortBy, type Store, type TokenPatch, type TokenRecord } from '../store/port.js';
import { assertMayWritePermanent, creatorId, mayGrant, type Actor, type Grant } from './access.js';
import { auditEntry, grantCaller } from './audit-service.js';
import { toTokenObject, type TokenObject } from './token-view.js';

export const DEFAULT_TOKEN_NOTE = 'Default Public Token';

export interface CreateTokenInput {
  readonly note?: string;
  readonly scopes?: readonly string[];
  readonly allowedUrls?: readonly string[];
  readonly allowedApplications?: readonly AllowedApplication[];
}

export type UpdateTokenInput = TokenPatch;

export interface ListTokensInput {
  readonly sortBy: SortBy;
  readonly limit: number;
  /** The opaque cursor (`<sortValueMs>.<id>`) or a bare token id. */
  readonly start?: string;
  readonly usage?: StoredUsage;
  readonly isDefault?: boolean;
}

export interface TokenPage {
  readonly tokens: TokenObject[];
  /** Cursor for the next page, or null when this page is the last. */
  readonly next: string | null;
}

export interface TokensServiceOptions {
  readonly store: Store;
  readonly sealer: Sealer;
  readonly catalog: ScopeCatalog;
  readonly clock: Clock;
  readonly maxTokensPerAccount: number;
  /**
   * Called after every committed update or delete, before the caller gets its answer: the
   * verifier catches up on the change log, so the change holds from this process's next request.
   */
  readonly afterWrite?: () => Promise<void>;
}

const CURSOR = /^(\d{1,15})\.(c[a-z0-9]{24})$/;

/**
 * A page stops once its body passes 1 MiB (SPEC §4.2), so one request never reads or serialises
 * tens of megabytes while every other request waits. Weighed with the store's `storedSize`, which
 * never exceeds a token's serialised size: a page cut here has passed 1 MiB.
 */
const PAGE_BUDGET_BYTES = 1024 * 1024;

/**
 * The rows of one page: at most `limit`, ending at the row whose running weight reaches the
 * budget. The store cut `rows` at the same point and added one row if more remain.
 */
function pageOf(rows: readonly TokenRecord[], limit: number): TokenRecord[] {
  const page: TokenRecord[] = [];
  let weight = 0;
  for (const row of rows) {
    if (page.length >= limit || weight >= PAGE_BUDGET_BYTES) break;
    page.push(row);
    weight += storedSize(row);
  }
  return page;
}

export class TokensService {
  constructor(private readonly options: TokensServiceOptions) {}

  async list(grant: Grant, input: ListTokensInput): Promise<TokenPage> {
    const { store, sealer } = this.options;
    const after = await this.resolveCursor(grant.username, input.start, input.sortBy);
    const rows = await store.listTokens(grant.username, {
      sortBy: input.sortBy,
      after,
      limit: input.limit + 1,
      maxBytes: PAGE_BUDGET_BYTES,
      ...(input.usage !== undefined && { usage: input.usage }),
      ...(input.isDefault !== undefined && { isDefault: input.isDefault }),
    });
    const page = pageOf(rows, input.limit);
    const last = page.at(-1);
    const next = rows.length > page.length && last ? `${sortValue(last, input.sortBy)}.${last.id}` : null;
    return { tokens: page.map((r) => toTokenObject(r, sealer)), next };
  }

  /**
   * Creates a pk/sk. With an `idempotencyKey` (SPEC §9 [ext]) the create is recorded under it for
   * 24 h in the same transaction: a repeat with the same input answers the first response (the
   * same token, never a second one), a repeat with another input is refused.
   * @throws AppError `idempotency_key_reused` for a key seen with another input.
   */
  async create(grant: Grant, input: CreateTokenInput, idempotencyKey?: string): Promise<TokenObject> {
    assertMayWritePermanent(grant);
    const { store, sealer, catalog, clock } = this.options;
    const scopes = [...new Set(input.scopes ?? [])];
    this.checkGrantable(grant.actor, scopes);
    const usage = catalog.usageFor(scopes);
    const id = newTokenId();
    const token = newStoredToken(usage, grant.username, id);
    const now = clock();
    const record: TokenRecord = {
      id,
      username: grant.username,
      usage,
      note: input.note ?? '',
      scopes,
      allowedUrls: input.allowedUrls ? [...input.allowedUrls] : null,
      allowedApplications: input.allowedApplications ? [...input.allowedApplications] : null,
      isDefault: false,
      tokenHash: hashToken(token),
      sealedToken: usage === 'pk' ? sealer.seal(token, id) : null,
      created: now,
      modified: now,
      createdBy: creatorId(grant.actor),
      lastUsed: null,
    };
    const response = toTokenObject(record, sealer, token);
    const audit = auditEntry(grantCaller(grant), 'token.create', now, grant.username, id);
    if (idempotencyKey === undefined) {
      if (!(await store.insertToken(record, this.options.maxTokensPerAccount, audit))) throw new AppError('too_many_tokens');
      return response;
    }
    // Sealed, like a stored pk: the response holds the token string (an sk's too).
    const slot = `idempotency:${grant.username}:${idempotencyKey}`;
    const requestHash = createHash('sha256').update(JSON.stringify(input)).digest('base64url');
    const once = { key: idempotencyKey, requestHash, sealedResponse: sealer.seal(JSON.stringify(response), slot), created: now };
    const result = await store.insertTokenOnce(record, this.options.maxTokensPerAccount, once, audit);
    if (result.kind === 'full') throw new AppError('too_many_tokens');
    if (result.kind === 'inserted') return response;
    if (result.record.requestHash !== requestHash) throw new AppError('idempotency_key_reused');
    const replayed = sealer.open(result.record.sealedResponse, slot);
    if (replayed === null) throw new Error(`the response recorded under an Idempotency-Key of ${grant.username} does not open with this secret`);
    return JSON.parse(replayed.toString('utf8')) as TokenObject;
  }

  async update(grant: Grant, id: string, input: UpdateTokenInput): Promise<TokenObject> {
    assertMayWritePermanent(grant);
    const { store, sealer, catalog, clock } = this.options;
    const current = await this.find(grant.username, id);
    const patch: { -readonly [K in keyof TokenPatch]: TokenPatch[K] } = {};
    if (input.note !== undefined) patch.note = input.note;
    if (input.scopes !== undefined) {
      const scopes = [...new Set(input.scopes)];
      if (current.isDefault && !sameSet(scopes, current.scopes)) throw new AppError('scopes_invalid');
      if (!current.isDefault) {
        this.checkGrantable(grant.actor, scopes);
        // Usage is decided at creation: a pk never gains a secret scope.
        if (current.usage === 'pk' && catalog.usageFor(scopes) !== 'pk') throw new AppError('scopes_invalid');
        patch.scopes = scopes;
      }
    }
    if (input.allowedUrls !== undefined) {
      if (current.isDefault && input.allowedUrls !== null) throw new AppError('allowed_urls_invalid');
      patch.allowedUrls = input.allowedUrls;
    }
    if (input.allowedApplications !== undefined) {
      if (current.isDefault && input.allowedApplications !== null) throw invalidField('allowedApplications');
      patch.allowedApplications = input.allowedApplications;
    }
    const now = clock();
    // The store adds what changed (fields, scopes before and after), read in its transaction.
    const updated = await store.updateToken(grant.username, id, patch, now, auditEntry(grantCaller(grant), 'token.update', now, grant.username, id));
    if (!updated) throw new AppError('not_found');
    await this.options.afterWrite?.();
    return toTokenObject(updated, sealer);
  }

  /** Deletes a token; deleting the default token refreshes it (SPEC §4.4). */
  async delete(grant: Grant, id: string): Promise<void> {
    assertMayWritePermanent(grant);
    const { store, clock } = this.options;
    const current = await this.find(grant.username, id);
    const now = clock();
    const caller = grantCaller(grant);
    let done: boolean;
    if (current.isDefault) {
      // A refresh is one entry (SPEC §10), naming the old id and its replacement's.
      const replacement = this.newDefaultRecord(grant.username, current.note, creatorId(grant.actor), now);
      const audit = auditEntry(caller, 'token.refresh', now, grant.username, id, { replacement: replacement.id });
      done = await store.replaceDefaultToken(grant.username, id, replacement, now, audit);
    } else {
      done = await store.deleteToken(grant.username, id, now, auditEntry(caller, 'token.delete', now, grant.username, id));
    }
    if (!done) throw new AppError('not_found');
    await this.options.afterWrite?.();
  }

  /** A new default public token record: the catalog's public scopes, no restrictions. */
  newDefaultRecord(username: string, note: string, createdBy: string, now: number): TokenRecord {
    const id = newTokenId();
    const token = newStoredToken('pk', username, id);
    return {
      id,
      username,
      usage: 'pk',
      note,
      scopes: [...this.options.catalog.publicScopes],
      allowedUrls: null,
      allowedApplications: null,
      isDefault: true,
      tokenHash: hashToken(token),
      sealedToken: this.options.sealer.seal(token, id),
      created: now,
      modified: now,
      createdBy,
      lastUsed: null,
    };
  }

  private async find(username: string, id: string): Promise<TokenRecord> {
    const record = isTokenId(id) ? await this.options.store.getToken(username, id) : null;
    if (!record) throw new AppError('not_found');
    return record;
  }

  private checkGrantable(actor: Actor, scopes: readonly string[]): void {
    const { catalog } = this.options;
    if (!scopes.every((s) => catalog.has(s) && mayGrant(actor, s))) throw new AppError('scopes_invalid');
  }

  private async resolveCursor(username: string, start: string | undefined, sortBy: SortBy): Promise<ListCursor | null> {
    if (start === undefined) return null;
    const match = CURSOR.exec(start);
    if (match) return { sortValue: Number(match[1]), id: match[2] as string };
    // A bare token id: the list continues after that token.
    const record = isTokenId(start) ? await this.options.store.getToken(username, start) : null;
    if (!record) throw invalidField('start');
    return { sortValue: sortValue(record, sortBy), id: record.id };
  }
}

function sortValue(record: TokenRecord, sortBy: SortBy): number {
  return sortBy === 'modified' ? record.modified : record.created;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(b);
  return a.length === set.size && a.every((s) => set.has(s));
}
