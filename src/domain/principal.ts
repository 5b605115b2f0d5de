/**
 * Who a verified token speaks for: the small, frozen identity the services act on. What the
 * verifier caches to get here (the stored record, compiled restrictions) stays in verification.
 */
import type { Usage } from './token-format.js';

export interface Principal {
  readonly username: string;
  readonly usage: Usage;
  /**
   * What the token may do now. For a tk: its own scopes that its root `p` still holds (SPEC §4.4),
   * so narrowing the parent narrows the tk at once.
   */
  readonly scopes: readonly string[];
  /** The token's own id (pk/sk); null for a tk. */
  readonly tokenId: string | null;
  /** The root pk/sk: the token itself, or a tk's `p`. */
  readonly rootId: string;
  /**
   * What rate limits on the APIs count (SPEC §3: each pk, sk and tk has its own bucket): the
   * pk/sk id, or `tk.` + the tk's MAC (its payload, and so its MAC, is unique to the string).
   */
  readonly subject: string;
  /** A tk's expiry in Unix seconds; null for pk/sk. */
  readonly exp: number | null;
  /** A tk's issue time in Unix seconds; null for pk/sk. */
  readonly iat: number | null;
}
