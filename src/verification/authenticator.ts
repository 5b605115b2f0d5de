/**
 * Decides whether a presented token string is genuine and current, and who it speaks for.
 * Expected outcomes are values: a bad token is the common case and never throws.
 *
 * The hot path: a tk is checked with no store read at all (MAC, clock, tombstone of its `p`); a
 * pk/sk is one hash and one Map lookup once cached. `tryCached` answers synchronously whenever no
 * store read is needed; `authenticate` does at most one indexed read.
 */
import type { Clock } from '../domain/clock.js';
import type { UrlRule } from '../domain/url-rules.js';
import { hashToken, isMacValid, MAX_TOKEN_LENGTH, parseToken, type ParsedToken, type Usage } from '../domain/token-format.js';
import type { Store, TokenRecord } from '../store/port.js';
import type { CachedToken, TokenDirectory } from './token-directory.js';

const MAX_TK_LIFETIME_S = 3600;
/** How long a forged tk is remembered: shorter than the keyring's reload interval. */
const FORGED_MEMORY_MS = 5_000;
/** Longer tk strings are verified every time rather than kept in memory. */
const MAX_REMEMBERED_LENGTH = 1024;

interface RememberedTemporary {
  readonly raw: string;
  readonly outcome: AuthOutcome;
  /** Valid: the tk's expiry (ms). Forged: when to check the MAC again. */
  readonly until: number;
}
const MAX_FUTURE_IAT_S = 60;

/** The signing keys a tk may have been signed with (the keyring). */
export interface KeySource {
  verifyingKeys(now: number): ReadonlyArray<{ readonly key: Buffer }>;
}

/** Who a verified token speaks for. */
export interface Principal {
  readonly username: string;
  readonly usage: Usage;
  readonly scopes: readonly string[];
  /** The token's own id (pk/sk); null for a tk. */
  readonly tokenId: string | null;
  /** The root pk/sk: the token itself, or a tk's `p`. */
  readonly rootId: string;
  /** A tk's expiry in Unix seconds; null for pk/sk. */
  readonly exp: number | null;
  /** A tk's issue time in Unix seconds; null for pk/sk. */
  readonly iat: number | null;
  /** The stored record of a pk/sk. */
  readonly record: TokenRecord | null;
  /** A pk/sk's compiled `allowedUrls`; null when it has none (and for a tk). */
  readonly urlRules: readonly UrlRule[] | null;
}

export type AuthFailure = 'malformed' | 'invalid' | 'expired' | 'revoked';

export type AuthOutcome = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly reason: AuthFailure };

const MALFORMED: AuthOutcome = Object.freeze({ ok: false, reason: 'malformed' });
const INVALID: AuthOutcome = Object.freeze({ ok: false, reason: 'invalid' });
const EXPIRED: AuthOutcome = Object.freeze({ ok: false, reason: 'expired' });
const REVOKED: AuthOutcome = Object.freeze({ ok: false, reason: 'revoked' });

export class Authenticator {
  /** Verified and forged tk strings seen recently, with their outcome. */
  private readonly temporaries = new Map<string, RememberedTemporary>();

  constructor(
    private readonly store: Store,
    private readonly directory: TokenDirectory,
    private readonly keys: KeySource,
    private readonly clock: Clock,
    private readonly temporaryCapacity = 10_000,
  ) {}

  /** The outcome when it needs no store read; undefined when a pk/sk must be read first. */
  tryCached(raw: string): AuthOutcome | undefined {
    const prefix = raw.length <= MAX_TOKEN_LENGTH ? raw.slice(0, 3) : '';
    if (prefix === 'pk.' || prefix === 'sk.') {
      // Looked up by the hash of the whole string before any parsing: a hit means the string is
      // exactly a stored token (one hash and one Map.get), and only well-formed strings are ever
      // cached as unknown, so a negative hit is invalid, not malformed.
      const cached = this.directory.cached(hashToken(raw));
      if (cached === null) return INVALID;
      if (cached !== undefined) return stored(cached, prefix === 'pk.' ? 'pk' : 'sk');
      return parseToken(raw) ? undefined : MALFORMED;
    }
    if (prefix === 'tk.') {
      // A tk is a signature check, not a read, but a client repeats the same string: its
      // verified (or forged) outcome is kept, and only the clock and tombstones are re-checked.
      const seen = this.temporaries.get(raw);
      if (seen !== undefined) {
        const outcome = this.recheck(seen);
        if (outcome !== undefined) return outcome;
      }
    }
    const parsed = parseToken(raw);
    if (!parsed) return MALFORMED;
    return parsed.usage === 'tk' ? this.temporary(raw, parsed) : undefined;
  }

  /** A remembered outcome still true now, or undefined when it has lapsed. */
  private recheck(seen: RememberedTemporary): AuthOutcome | undefined {
    const now = this.clock();
    if (!seen.outcome.ok) {
      if (now < seen.until) return seen.outcome;
      this.temporaries.delete(seen.raw);
      return undefined;
    }
    if (now >= seen.until) return EXPIRED;
    return this.directory.isDeleted(seen.outcome.principal.rootId) ? REVOKED : seen.outcome;
  }

  /**
   * Bounded, oldest out first. A forged MAC is remembered only briefly: a tk signed by a key
   * another process has just added fails here until the keyring reloads, and must pass after.
   */
  private remember(raw: string, outcome: AuthOutcome, until: number): void {
    if (raw.length > MAX_REMEMBERED_LENGTH) return;
    if (this.temporaries.size >= this.temporaryCapacity) {
      const oldest = this.temporaries.keys().next().value;
      if (oldest !== undefined) this.temporaries.delete(oldest);
    }
    this.temporaries.set(raw, { raw, outcome, until });
  }

  /** The outcome, reading the store at most once (a pk/sk not yet cached). */
  async authenticate(raw: string): Promise<AuthOutcome> {
    const quick = this.tryCached(raw);
    if (quick !== undefined) return quick;
    // Only a well-formed pk/sk that is not cached gets here.
    const entry = await this.directory.load(hashToken(raw));
    return entry === null ? INVALID : stored(entry, raw.startsWith('pk.') ? 'pk' : 'sk');
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

  private temporary(raw: string, parsed: ParsedToken & { usage: 'tk' }): AuthOutcome {
    const { payload } = parsed;
    const now = this.clock();
    let signed = false;
    for (const k of this.keys.verifyingKeys(now)) {
      if (isMacValid(k.key, parsed.payloadText, parsed.secret)) {
        signed = true;
        break;
      }
    }
    if (!signed) {
      // A forged MAC stays forged: remembered, so repeating it costs no HMAC.
      this.remember(raw, INVALID, now + FORGED_MEMORY_MS);
      return INVALID;
    }
    const nowS = Math.floor(now / 1000);
    if (payload.exp - payload.iat > MAX_TK_LIFETIME_S || payload.iat > nowS + MAX_FUTURE_IAT_S) return INVALID;
    if (now >= payload.exp * 1000) return EXPIRED;
    // No read: the change log's tombstones hold every id deleted within a tk's lifetime.
    if (this.directory.isDeleted(payload.p)) return REVOKED;
    const outcome: AuthOutcome = {
      ok: true,
      principal: {
        username: payload.u,
        usage: 'tk',
        scopes: payload.scopes,
        tokenId: null,
        rootId: payload.p,
        exp: payload.exp,
        iat: payload.iat,
        record: null,
        urlRules: null,
      },
    };
    this.remember(raw, outcome, payload.exp * 1000);
    return outcome;
  }
}

/** A cached pk/sk entry as an outcome; its principal is built once and kept with the entry. */
function stored(entry: CachedToken, usage: 'pk' | 'sk'): AuthOutcome {
  if (entry.record.usage !== usage) return INVALID;
  return entry.outcome;
}
