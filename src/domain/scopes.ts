/**
 * Scopes: the grammar, the built-in Mapbox catalog (SPEC §6) and the catalog an operator extends.
 * The grammar keeps token payloads free of the characters whose base64 holds `+` or `/`.
 */
export const SCOPE_PATTERN = /^[a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._-]*$/;
/** Longest scope id accepted anywhere; a bound for hostile input, far above any real scope. */
const MAX_SCOPE_LENGTH = 128;

export interface ScopeDefinition {
  readonly id: string;
  readonly description: string;
  readonly public: boolean;
}

const PUBLIC: ReadonlyArray<[string, string]> = [
  ['styles:tiles', 'Read raster tiles rendered from styles'],
  ['styles:read', 'Read styles'],
  ['fonts:read', 'Read fonts and glyphs'],
  ['datasets:read', 'Read datasets'],
  ['vision:read', 'Use vision services'],
];

const SECRET: ReadonlyArray<[string, string]> = [
  ['scopes:list', 'List the scopes available to the account'],
  ['map:read', 'Read maps'],
  ['map:write', 'Create and change maps'],
  ['user:read', 'Read account details'],
  ['user:write', 'Change account details'],
  ['uploads:read', 'Read upload status'],
  ['uploads:list', 'List uploads'],
  ['uploads:write', 'Create and delete uploads'],
  ['styles:list', 'List styles'],
  ['styles:write', 'Create, change and delete styles'],
  ['styles:download', 'Download styles for offline use'],
  ['styles:protect', 'Protect styles from changes'],
  ['fonts:list', 'List fonts'],
  ['fonts:write', 'Add and delete fonts'],
  ['tokens:read', 'List and read access tokens'],
  ['tokens:write', 'Create, change and delete access tokens'],
  ['datasets:list', 'List datasets'],
  ['datasets:write', 'Create, change and delete datasets'],
  ['tilesets:list', 'List tilesets'],
  ['tilesets:read', 'Read tilesets'],
  ['tilesets:write', 'Create, change and delete tilesets'],
  ['downloads:read', 'Download offline packs'],
  ['vision:download', 'Download vision models'],
  ['navigation:download', 'Download navigation data for offline use'],
  ['offline:read', 'Read offline regions'],
  ['offline:write', 'Create and change offline regions'],
  ['user-feedback:read', 'Read user feedback'],
  ['analytics:read', 'Read token usage statistics'],
];

export const BUILT_IN_SCOPES: readonly ScopeDefinition[] = [
  ...PUBLIC.map(([id, description]) => ({ id, description, public: true })),
  ...SECRET.map(([id, description]) => ({ id, description, public: false })),
];

export function isScopeId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_SCOPE_LENGTH && SCOPE_PATTERN.test(value);
}

/** The scopes anyone may grant: built-in plus the operator's. Frozen once built. */
export class ScopeCatalog {
  private readonly byId: ReadonlyMap<string, ScopeDefinition>;
  readonly publicScopes: readonly string[];

  /** @throws Error naming the clashing or malformed scope; config validation reports it. */
  constructor(operatorScopes: readonly ScopeDefinition[] = []) {
    const byId = new Map<string, ScopeDefinition>();
    for (const scope of BUILT_IN_SCOPES) byId.set(scope.id, scope);
    for (const scope of operatorScopes) {
      if (!isScopeId(scope.id)) throw new Error(`scope ${JSON.stringify(scope.id)} is not a valid scope id`);
      if (byId.has(scope.id)) throw new Error(`scope ${scope.id} clashes with a built-in or earlier scope`);
      byId.set(scope.id, Object.freeze({ ...scope }));
    }
    this.byId = byId;
    this.publicScopes = Object.freeze([...byId.values()].filter((s) => s.public).map((s) => s.id));
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** A scope outside the catalog counts as secret: it cannot be proven public. */
  isPublic(id: string): boolean {
    return this.byId.get(id)?.public === true;
  }

  list(): readonly ScopeDefinition[] {
    return [...this.byId.values()];
  }

  /** `pk` when every scope is public (including none), else `sk` (SPEC §1). */
  usageFor(scopes: readonly string[]): 'pk' | 'sk' {
    return scopes.every((s) => this.isPublic(s)) ? 'pk' : 'sk';
  }
}
