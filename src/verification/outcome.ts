/**
 * What authenticating a token string yields (a value, never an exception: a bad token is the
 * common case). Its own module, so the authenticator and the token directory both depend on it
 * and not on each other.
 */
import type { Principal } from '../domain/principal.js';
import type { AllowedApplication, UrlRule } from '../domain/url-rules.js';

/** A pk/sk's URL and app restrictions, compiled once when its record is cached. */
export interface Restrictions {
  /** Compiled `allowedUrls`; null when the token has none. */
  readonly urls: readonly UrlRule[] | null;
  readonly apps: readonly AllowedApplication[] | null;
}

export type AuthFailure = 'malformed' | 'invalid' | 'expired' | 'revoked';

export interface Verified {
  readonly ok: true;
  readonly principal: Principal;
  /** Null when the token carries none (every tk, most pk/sk). */
  readonly restrictions: Restrictions | null;
}

export type AuthOutcome = Verified | { readonly ok: false; readonly reason: AuthFailure };
