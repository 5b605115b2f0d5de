/**
 * The pk/sk records verification reads, cached in memory and kept true by the change log.
 *
 * - Positive cache: token hash → record (with its URL rules compiled), bounded, FIFO eviction.
 * - Negative cache: hashes the store does not hold, bounded, so a repeated unknown id costs one
 *   indexed read and then none. A new token always has a new random string, so a hash turns
 *   from unknown to known only when its account is enabled again (SPEC §10); that writes a
 *   change for its id, and a change for an id forgets the unknown hashes that named it.
 * - Tombstones: ids deleted within the retention (1 h plus skew), so a tk whose `p` is gone is
 *   refused without a read.
 * - The fill race: a read that began before a change to its id and finished after the change was
 *   applied is used for its own request but not cached.
 */
import type { Clock } from '../domain/clock.js';
import { TOMBSTONE_RETENTION_MS } from '../domain/policy.js';
import { compileAllowedUrl, type UrlRule } from '../domain/url-rules.js';
import type { Store, TokenChange, TokenRecord } from '../store/port.js';
import type { Principal } from '../domain/principal.js';
import type { Restrictions, Verified } from './outcome.js';
import { ChangeFollower, type ChangeListener } from './change-follower.js';

/** How long an id's latest change seq is remembered for the fill race (reads take milliseconds). */
const RECENT_CHANGE_MS = 60_000;

export interface CachedToken {
  readonly record: TokenRecord;
  /** The authentication outcome for this record, built once so a cache hit allocates nothing. */
  readonly outcome: Verified;
}

export interface DirectoryStats {
  /** Store reads made to fill the cache (misses). */
  reads: number;
  /** Look-ups answered from the cache, a known-absent hash included (hits). */
  hits: number;
}

export class TokenDirectory implements ChangeListener {
  private readonly known = new Map<string, CachedToken>();
  private readonly hashById = new Map<string, string>();
  /** Unknown hash → the id its string named; and id → those hashes, for `applyChange`. */
  private readonly unknown = new Map<string, string>();
  private readonly unknownById = new Map<string, Set<string>>();
  private readonly tombstones = new Map<string, number>();
  private readonly changedAt = new Map<string, { seq: number; at: number }>();
  private lastPrune = 0;
  readonly follower: ChangeFollower;
  readonly stats: DirectoryStats = { reads: 0, hits: 0 };
  /**
   * Bumped by every change applied (and tombstones loaded): whatever was derived from the cache at
   * one epoch still holds while the epoch is unchanged (the authenticator's tk joins).
   */
  epoch = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly capacity: number,
  ) {
    this.follower = new ChangeFollower(store, clock, this, TOMBSTONE_RETENTION_MS);
  }

  /** The cached record for a hash: the entry, null when known to be absent, undefined on a miss. */
  cached(hash: string): CachedToken | null | undefined {
    const hit = this.known.get(hash);
    if (hit !== undefined) {
      this.stats.hits++;
      return hit;
    }
    if (!this.unknown.has(hash)) return undefined;
    this.stats.hits++;
    return null;
  }

  /** The cached record of a pk/sk by id (a tk's parent), or undefined on a miss. */
  cachedById(id: string): CachedToken | undefined {
    const hash = this.hashById.get(id);
    const hit = hash === undefined ? undefined : this.known.get(hash);
    if (hit !== undefined) this.stats.hits++;
    return hit;
  }

  /**
   * One indexed read; the result is cached unless the id changed while the read was in flight.
   * `id` is the one the token string names (its payload's `a`), kept with a negative result.
   */
  async load(hash: string, id: string): Promise<CachedToken | null> {
    const startSeq = this.follower.seenSeq;
    this.stats.reads++;
    const record = await this.store.findTokenByHash(hash);
    if (record === null) {
      this.rememberUnknown(hash, id);
      return null;
    }
    return this.fill(record, startSeq);
  }

  /**
   * A tk's parent by id, read once and then cached like any pk/sk (so its own requests hit too).
   * Null when there is no such token: the tk is revoked.
   */
  async loadById(id: string): Promise<CachedToken | null> {
    const startSeq = this.follower.seenSeq;
    this.stats.reads++;
    const record = await this.store.findTokenById(id);
    return record === null ? null : this.fill(record, startSeq);
  }

  /** Caches the entry unless its id changed at a higher seq than the read started at (SPEC §7). */
  private fill(record: TokenRecord, startSeq: number): CachedToken {
    const entry = toEntry(record);
    const changed = this.changedAt.get(record.id);
    if (changed === undefined || changed.seq <= startSeq) {
      this.evictIfFull(this.known);
      this.known.set(record.tokenHash, entry);
      this.hashById.set(record.id, record.tokenHash);
    }
    return entry;
  }

  /** Whether this pk/sk id was deleted within the tombstone retention. */
  isDeleted(id: string): boolean {
    return this.tombstones.has(id);
  }

  applyChange(change: TokenChange): void {
    this.epoch++;
    const hash = this.hashById.get(change.tokenId);
    if (hash !== undefined) {
      this.known.delete(hash);
      this.hashById.delete(change.tokenId);
    }
    const unknownHashes = this.unknownById.get(change.tokenId);
    if (unknownHashes !== undefined) {
      for (const unknownHash of unknownHashes) this.unknown.delete(unknownHash);
      this.unknownById.delete(change.tokenId);
    }
    this.changedAt.set(change.tokenId, { seq: change.seq, at: this.clock() });
    if (change.kind === 'delete') this.tombstones.set(change.tokenId, change.at);
    this.prune();
  }

  forgetAll(): void {
    this.epoch++;
    this.known.clear();
    this.hashById.clear();
    this.unknown.clear();
    this.unknownById.clear();
    this.tombstones.clear();
  }

  loadTombstones(deletes: readonly TokenChange[]): void {
    this.epoch++;
    for (const d of deletes) this.tombstones.set(d.tokenId, d.at);
  }

  private prune(): void {
    const now = this.clock();
    if (now - this.lastPrune < 10_000) return;
    this.lastPrune = now;
    for (const [id, at] of this.tombstones) if (at < now - TOMBSTONE_RETENTION_MS) this.tombstones.delete(id);
    for (const [id, c] of this.changedAt) if (c.at < now - RECENT_CHANGE_MS) this.changedAt.delete(id);
  }

  private rememberUnknown(hash: string, id: string): void {
    if (this.unknown.size >= this.capacity) {
      const oldest = this.unknown.entries().next().value;
      if (oldest !== undefined) {
        this.unknown.delete(oldest[0]);
        const siblings = this.unknownById.get(oldest[1]);
        siblings?.delete(oldest[0]);
        if (siblings?.size === 0) this.unknownById.delete(oldest[1]);
      }
    }
    this.unknown.set(hash, id);
    const hashes = this.unknownById.get(id);
    if (hashes === undefined) this.unknownById.set(id, new Set([hash]));
    else hashes.add(hash);
  }

  private evictIfFull(map: Map<string, CachedToken>): void {
    if (map.size < this.capacity) return;
    const oldest = map.entries().next().value;
    if (oldest === undefined) return;
    map.delete(oldest[0]);
    this.hashById.delete(oldest[1].record.id);
  }
}

function toEntry(record: TokenRecord): CachedToken {
  const principal: Principal = Object.freeze({
    username: record.username,
    usage: record.usage,
    scopes: record.scopes,
    tokenId: record.id,
    rootId: record.id,
    subject: record.id,
    exp: null,
    iat: null,
  });
  const outcome: Verified = Object.freeze({ ok: true as const, principal, restrictions: compileRestrictions(record) });
  return Object.freeze({ record, outcome });
}

function compileRestrictions(record: TokenRecord): Restrictions | null {
  if (record.allowedUrls === null && record.allowedApplications === null) return null;
  const urls = record.allowedUrls === null ? null : record.allowedUrls.map(compileAllowedUrl).filter((r): r is UrlRule => r !== null);
  return Object.freeze({ urls, apps: record.allowedApplications });
}
