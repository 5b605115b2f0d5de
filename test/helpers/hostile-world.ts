/**
 * What the hostile-request suite knows about the store it attacks: the seeded accounts, their
 * token strings, ids and scopes, and what each token may legitimately change (SPEC §4.4). Shared
 * by the request generator and the oracle that judges the answers.
 */

export type Usage = 'pk' | 'sk' | 'tk';

export interface SeededToken {
  /** A readable name for counterexamples, e.g. `alice/sk-write`. */
  readonly name: string;
  readonly token: string;
  readonly user: string;
  readonly usage: Usage;
  /** The token's id (pk/sk), or its root `p` (tk). */
  readonly rootId: string;
  /** Whether it verifies now (false for the deleted token). */
  readonly live: boolean;
  /**
   * The account whose stored tokens this token may legitimately change: an sk holding
   * `tokens:write`. Null for every other token, tks included: a tk never creates, updates or
   * deletes a pk or sk (SPEC §4.4).
   */
  readonly writes: string | null;
  readonly scopes: readonly string[];
}

export interface StoredId {
  readonly user: string;
  readonly id: string;
  readonly isDefault: boolean;
}

export interface HostileWorld {
  /** Accounts that exist. */
  readonly users: readonly string[];
  readonly tokens: readonly SeededToken[];
  /** Every stored id, and the deleted one (it must stay a 404). */
  readonly ids: readonly StoredId[];
  /** The catalog's scope ids (built-in plus the operator's). */
  readonly scopes: readonly string[];
  /** Unix ms when the world was made; `expires` bodies are relative to it. */
  readonly now: number;
}

/** The operator's config for the run: one secret operator scope and forward-auth-only routes. */
export const OPERATOR_SCOPE = 'internal:read';
export const ROUTES = [
  { path: '/maps/*', scope: 'styles:read' },
  { path: '/private/*', methods: ['GET', 'HEAD'], scope: 'map:read' },
  { path: '/internal/*', scope: OPERATOR_SCOPE },
] as const;

/** The secret part (last 22 characters) of a token string. */
export function secretOf(token: string): string {
  return token.slice(token.lastIndexOf('.') + 1);
}
