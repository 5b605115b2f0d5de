/**
 * Decides whether a presented token string is genuine and current, and who it speaks for.
 * Expected outcomes are values: a bad token is the common case and never throws.
 *
 * The hot path: a tk is checked with no store read at all (MAC, clock, tombstone of its `p`); a
 * pk/sk is one hash and one Map lookup once cached. `tryCached` answers synchronously whenever no
 * store read is needed; `authenticate` does at most one indexed read.
 */
import type { Clock } from '../domain/clock.js';
import { CLOCK_SKEW_S, MAX_TK_LIFETIME_S } from '../domain/policy.js';
import type { Principal } from '../domain/principal.js';
import { hashToken, isMacValid, MAX_TOKEN_LENGTH, parseToken, type ParsedToken, type TemporaryPayload } from '../domain/token-format.js';
import type { Store } from '../store/port.js';
import type { AuthOutcome } from './outcome.js';
import type { CachedToken, TokenDirectory } from './token-directory.js';

export type { AuthFailure, AuthOutcome, Restrictions, Verified } from './outcome.js';

/** How long a forged tk is remembered: a key rotation elsewhere clears the memory at once. */
const FORGED_MEMORY_MS = 5_000;
/** Longer tk strings are verified every time rather than kept in memory. */
const MAX_REMEMBERED_LENGTH = 1024;

/**
 * A tk string seen recently. `signed`: its MAC, lifetime and clock checks passed (until its
 * `exp`); the outcome joined with its parent's record is kept with the parent entry it came
 * from, so it is rebuilt only when the change log replaced that entry. Forged: refused until
 * `until`.
 */
interface RememberedTemporary {
  readonly raw: string;
  readonly claims: TemporaryPayload | null;
  readonly until: number;
  parent: CachedToken | null;
  /** The directory's epoch when `outcome` was joined with `parent`; -1: look again. */
  epoch: number;
  outcome: AuthOutcome;
}

/** The signing keys a tk may have been signed with (the keyring). */
export interface KeySource {
  verifyingKeys(now: number): ReadonlyArray<{ readonly key: Buffer }>;
}

const MALFORMED: AuthOutcome = Object.freeze({ ok: false, reason: 'malformed' });
const INVALID: AuthOutcome = Object.freeze({ ok: false, reason: 'invalid' });
const EXPIRED: AuthOutcome = Object.freeze({ ok: false, reason: 'expired' });
const REVOKED: AuthOutcome = Object.freeze({ ok: false, reason: 'revoked' });

export class Authenticator {
  /** Verified and forged tk strings seen recently, bounded, oldest out first. */
  private readonly temporaries = new Map<string, RememberedTemporary>();
  /**
   * The hash of each pk string the directory's caches answered for (a known token, or a known
   * unknown one), so a busy pk is hashed once, not on every request (the hash was a fifth of a
   * cached check's own work). A pk is public (it ships in web pages), so its string may stay in
   * memory; an sk's string never does. Bounded, emptied when full: a flood of made-up strings
   * only churns it. The directory still judges every request: it maps a string to its hash, and
   * a revoked pk's hash finds no token.
   */
  private readonly publicHashes = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly directory: TokenDirectory,
    private readonly keys: KeySource,
    private readonly clock: Clock,
    private readonly temporaryCapacity = 10_000,
  ) {}

  /** The outcome when it needs no store read; undefined when a pk/sk or a tk's parent must be read first. */
  tryCached(raw: string): AuthOutcome | undefined {
    const prefix = raw.length <= MAX_TOKEN_LENGTH ? raw.slice(0, 3) : '';
    if (prefix === 'pk.' || prefix === 'sk.') {
      // Looked up by the hash of the whole string before any parsing: a hit means the string is
      // exactly a stored token (one hash and one Map.get), and only well-formed strings are ever
      // cached as unknown, so a negative hit is invalid, not malformed.
      const isPublic = prefix === 'pk.';
      const remembered = isPublic ? this.publicHashes.get(raw) : undefined;
      const hash = remembered ?? hashToken(raw);
      const cached = this.directory.cached(hash);
      if (cached === undefined) return parseToken(raw) ? undefined : MALFORMED;
      if (isPublic && remembered === undefined) this.rememberPublicHash(raw, hash);
      return cached === null ? INVALID : stored(cached, isPublic ? 'pk' : 'sk');
    }
    if (prefix === 'tk.') {
      const now = this.clock();
      const seen = this.signedTemporary(raw, now);
      return seen.claims === null ? seen.outcome : this.current(seen, now);
    }
    return MALFORMED;
  }

  /** The outcome, reading the store at most once (a pk/sk not yet cached, or a tk's parent). */
  async authenticate(raw: string): Promise<AuthOutcome> {
    const quick = this.tryCached(raw);
    if (quick !== undefined) return quick;
    if (raw.startsWith('tk.')) {
      // Signed and current, but its parent's record is not cached: one read by id.
      const seen = this.signedTemporary(raw, this.clock());
      if (seen.claims === null) return seen.outcome;
      const parent = await this.directory.loadById(seen.claims.p);
      return this.current(seen, this.clock(), parent) ?? REVOKED;
    }
    // Only a well-formed pk/sk that is not cached gets here.
    const parsed = parseToken(raw);
    const entry = await this.directory.load(hashToken(raw), parsed?.usage === 'tk' || !parsed ? '' : parsed.payload.a);
    return entry === null ? INVALID : stored(entry, raw.startsWith('pk.') ? 'pk' : 'sk');
  }

  /** Forgets remembered forged tks: a key added elsewhere may have signed them (a rotation). */
  forgetForged(): void {
    for (const [raw, seen] of this.temporaries) if (seen.claims === null) this.temporaries.delete(raw);
  }

  /**
   * For retrieve only: tells why a well-formed pk/sk is unknown. Revoked only when it is exactly
   * the string of a deleted token; a wrong secret for any id, live or deleted, is invalid (the
   * secret is checked before revocation). Costs up to two reads, so the hot path never calls it.
   */
  async explainUnknown(raw: string): Promise<'invalid' | 'revoked'> {
    const parsed = parseToken(raw);
    if (!parsed || parsed.usage === 'tk') return 'invalid';
    const { u, a } = parsed.payload;
    if (await this.store.getToken(u, a)) return 'invalid';
    return (await this.store.deletedTokenHash(a)) === hashToken(raw) ? 'revoked' : 'invalid';
  }

  /**
   * The tk's signature verdict, remembered: a client repeats the same string, so its MAC is
   * checked once (a forged one is remembered briefly, so repeating it costs no HMAC either).
   */
  private signedTemporary(raw: string, now: number): RememberedTemporary {
    const seen = this.temporaries.get(raw);
    if (seen !== undefined && (seen.claims !== null || now < seen.until)) return seen;
    if (seen !== undefined) this.temporaries.delete(raw);
    const parsed = parseToken(raw);
    if (parsed === null || parsed.usage !== 'tk') return transient(raw, MALFORMED);
    // The MAC first (SPEC §4.2 order): a forged string is invalid whatever its payload says.
    if (!this.isSigned(parsed, now)) return this.remember({ raw, claims: null, until: now + FORGED_MEMORY_MS, parent: null, epoch: -1, outcome: INVALID });
    const { exp, iat } = parsed.payload;
    if (exp - iat > MAX_TK_LIFETIME_S || iat > Math.floor(now / 1000) + CLOCK_SKEW_S) return transient(raw, INVALID);
    // Genuine: remembered until it expires; `current` checks the clock and the parent each time.
    return this.remember({ raw, claims: parsed.payload, until: exp * 1000, parent: null, epoch: -1, outcome: EXPIRED });
  }

  private isSigned(parsed: ParsedToken & { usage: 'tk' }, now: number): boolean {
    for (const k of this.keys.verifyingKeys(now)) if (isMacValid(k.key, parsed.payloadText, parsed.secret)) return true;
    return false;
  }

  /**
   * A signed tk's outcome now: expired, revoked (its parent deleted, as the change log's
   * tombstones say, or gone), or verified with the scopes its parent still holds. Undefined when
   * the parent's record is not cached, so the caller must read it (`loaded`: the record it read).
   *
   * The hot path: the outcome joined with the parent is reused while the directory has applied
   * no change since the join (its epoch), with no lookup at all; any change (an update or delete
   * of any token) makes the next use look the parent up again.
   */
  private current(seen: RememberedTemporary, now: number, loaded?: CachedToken | null): AuthOutcome | undefined {
    const claims = seen.claims as TemporaryPayload;
    if (now >= seen.until) return EXPIRED;
    const { directory } = this;
    if (seen.parent !== null && seen.epoch === directory.epoch) return seen.outcome;
    if (directory.isDeleted(claims.p)) return REVOKED;
    const epoch = directory.epoch;
    const cached = directory.cachedById(claims.p);
    const parent = loaded === undefined ? cached : loaded;
    if (parent === undefined) return undefined;
    if (parent === null || parent.record.username !== claims.u) return REVOKED;
    if (seen.parent !== parent) {
      seen.parent = parent;
      seen.outcome = Object.freeze({ ok: true, principal: temporaryPrincipal(seen.raw, claims, parent.record.scopes), restrictions: null });
    }
    // A record read but not cached (its read raced a change) is used once, never reused by epoch.
    seen.epoch = parent === cached ? epoch : -1;
    return seen.outcome;
  }

  /** Bounded, oldest out first. Over-long strings are not kept (they are verified each time). */
  private remember(seen: RememberedTemporary): RememberedTemporary {
    if (seen.raw.length > MAX_REMEMBERED_LENGTH) return seen;
    if (this.temporaries.size >= this.temporaryCapacity) {
      const oldest = this.temporaries.keys().next().value;
      if (oldest !== undefined) this.temporaries.delete(oldest);
    }
    this.temporaries.set(seen.raw, seen);
    return seen;
  }

  /** As many as tk strings are remembered; when full, emptied (the busy ones come straight back). */
  private rememberPublicHash(raw: string, hash: string): void {
    if (this.publicHashes.size >= this.temporaryCapacity) this.publicHashes.clear();
    this.publicHashes.set(raw, hash);
  }
}

/** A failure that is not remembered (malformed, or a signed tk failing a clock check). */
function transient(raw: string, outcome: AuthOutcome): RememberedTemporary {
  return { raw, claims: null, until: 0, parent: null, epoch: -1, outcome };
}

function temporaryPrincipal(raw: string, claims: TemporaryPayload, parentScopes: readonly string[]): Principal {
  return Object.freeze({
    username: claims.u,
    usage: 'tk',
    scopes: Object.freeze(claims.scopes.filter((s) => parentScopes.includes(s))),
    tokenId: null,
    rootId: claims.p,
    subject: `tk.${raw.slice(-22)}`,
    exp: claims.exp,
    iat: claims.iat,
  });
}

/** A cached pk/sk entry as an outcome; its principal is built once and kept with the entry. */
function stored(entry: CachedToken, usage: 'pk' | 'sk'): AuthOutcome {
  if (entry.record.usage !== usage) return INVALID;
  return entry.outcome;
}
