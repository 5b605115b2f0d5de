/**
 * Decides whether a presented token string is genuine and current, and who it speaks for.
 * Expected outcomes are values: a bad token is the common case and never throws. Outcomes follow
 * the retrieve order of SPEC §4.2: malformed → invalid → expired → revoked.
 */
import type { Clock } from '../domain/clock.js';
import { hashToken, isMacValid, parseToken, type StoredUsage, type Usage } from '../domain/token-format.js';
import type { Keyring } from '../services/keyring.js';
import type { Store, TokenRecord } from '../store/port.js';

const MAX_TK_LIFETIME_S = 3600;
const MAX_FUTURE_IAT_S = 60;

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
}

export type AuthFailure = 'malformed' | 'invalid' | 'expired' | 'revoked';

export type AuthOutcome = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly reason: AuthFailure };

export class Authenticator {
  constructor(
    private readonly store: Store,
    private readonly keyring: Keyring,
    private readonly clock: Clock,
  ) {}

  async authenticate(raw: string): Promise<AuthOutcome> {
    const parsed = parseToken(raw);
    if (!parsed) return { ok: false, reason: 'malformed' };
    if (parsed.usage === 'tk') return this.authenticateTemporary(parsed.payload, parsed.payloadText, parsed.secret);
    return this.authenticateStored(raw, parsed.usage, parsed.payload.u, parsed.payload.a);
  }

  private async authenticateStored(raw: string, usage: StoredUsage, username: string, id: string): Promise<AuthOutcome> {
    const hash = hashToken(raw);
    const record = await this.store.findTokenByHash(hash);
    if (record && record.usage === usage) {
      return {
        ok: true,
        principal: { username, usage, scopes: record.scopes, tokenId: record.id, rootId: record.id, exp: null, iat: null, record },
      };
    }
    // Unknown string: revoked only if it is exactly a token that was deleted; a wrong secret for
    // any id, live or deleted, is invalid (the secret is checked before revocation).
    if (await this.store.getToken(username, id)) return { ok: false, reason: 'invalid' };
    return { ok: false, reason: (await this.store.deletedTokenHash(id)) === hash ? 'revoked' : 'invalid' };
  }

  private async authenticateTemporary(
    payload: { u: string; exp: number; iat: number; scopes: readonly string[]; p: string },
    payloadText: string,
    mac: string,
  ): Promise<AuthOutcome> {
    const now = this.clock();
    const signed = this.keyring.verifyingKeys(now).some((k) => isMacValid(k.key, payloadText, mac));
    if (!signed) return { ok: false, reason: 'invalid' };
    const nowS = Math.floor(now / 1000);
    if (payload.exp - payload.iat > MAX_TK_LIFETIME_S || payload.iat > nowS + MAX_FUTURE_IAT_S) {
      return { ok: false, reason: 'invalid' };
    }
    if (now >= payload.exp * 1000) return { ok: false, reason: 'expired' };
    if (!(await this.store.tokenExists(payload.p))) return { ok: false, reason: 'revoked' };
    return {
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
      },
    };
  }
}
