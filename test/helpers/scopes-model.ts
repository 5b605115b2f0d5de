/**
 * The model for the scopes property (SPEC §4.4 as revised): what each token string may do, kept
 * as plainly as possible so it can be read against the SPEC line by line.
 *
 * - A pk/sk acts with its own stored scopes until it is deleted.
 * - A tk acts with its own scopes that its root `p` holds now; it acts with nothing once it has
 *   expired or `p` is deleted. A tk minted by a tk has the same `p`.
 * - Nobody grants a scope they do not hold (the operator's token holds every scope); a scope
 *   outside the catalog is granted to nothing, a tk included.
 * - A tk never creates, updates or deletes a pk or sk: 404, as for a missing scope.
 */
export const PUBLIC_SCOPES = ['styles:read', 'fonts:read'] as const;
export const SECRET_SCOPES = ['tokens:write', 'map:read', 'uploads:write'] as const;
/** In the store's tokens (the operator's token keeps it) but no longer in the catalog. */
export const RETIRED_SCOPE = 'legacy:read';
/** Every scope the probes ask about. */
export const UNIVERSE = [...PUBLIC_SCOPES, ...SECRET_SCOPES, RETIRED_SCOPE];

export type Usage = 'pk' | 'sk' | 'tk';

export interface ModelToken {
  /** For failure messages: `default-pk`, `operator-sk`, `sk#3`, `tk#5`. */
  readonly name: string;
  readonly token: string;
  readonly usage: Usage;
  /** pk/sk id; null for a tk. */
  readonly id: string | null;
  /** Own scopes (a pk/sk's change with updates). */
  scopes: string[];
  /** A pk/sk that was deleted. */
  deleted: boolean;
  /** A tk's root pk/sk. */
  readonly root: ModelToken | null;
  /** A tk's expiry, Unix seconds. */
  readonly exp: number | null;
  readonly isDefault: boolean;
  readonly isOperator: boolean;
}

/** The scopes a token can act with now, or null when it does not authenticate at all. */
export function effectiveScopes(t: ModelToken, nowMs: number): ReadonlySet<string> | null {
  if (t.usage !== 'tk') return t.deleted ? null : new Set(t.scopes);
  const root = t.root as ModelToken;
  if (nowMs >= (t.exp as number) * 1000 || root.deleted) return null;
  return new Set(t.scopes.filter((s) => root.scopes.includes(s)));
}

export function isPublicScope(scope: string): boolean {
  return (PUBLIC_SCOPES as readonly string[]).includes(scope);
}

/** Whether `scopes` may be granted by a caller acting with `held`. */
export function mayGrantAll(scopes: readonly string[], held: ReadonlySet<string>): boolean {
  return scopes.every((s) => s !== RETIRED_SCOPE && held.has(s));
}

/**
 * The answers SPEC allows to a write by `caller` (401, then 404 for a missing `tokens:write` or
 * any tk creating, updating or deleting a pk/sk), or null when the caller may go on to the body.
 */
export function refusalOfCaller(caller: ModelToken, nowMs: number, storedWrite: boolean): number | null {
  const held = effectiveScopes(caller, nowMs);
  if (held === null) return 401;
  if (storedWrite && caller.usage === 'tk') return 404;
  return held.has('tokens:write') ? null : 404;
}
