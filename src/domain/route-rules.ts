/**
 * Route rules (SPEC §5, §7 `routes`): which scope a request to the operator's API needs. Rules
 * are tried in config order; in a `path` glob a trailing `*` matches the rest of the path and an
 * inner `*` exactly one segment. A rule with `methods` matches only those methods.
 */
export interface RouteRule {
  readonly path: string;
  readonly methods?: readonly string[] | undefined;
  readonly scope: string;
  readonly upstream?: string | undefined;
}

export interface CompiledRoute {
  readonly rule: RouteRule;
  readonly pattern: RegExp;
  readonly methods: ReadonlySet<string> | null;
}

function escape(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

export function compileRoute(rule: RouteRule): CompiledRoute {
  const trailing = rule.path.endsWith('*');
  const body = trailing ? rule.path.slice(0, -1) : rule.path;
  const source = body.split('*').map(escape).join('[^/]+');
  const pattern = new RegExp(`^${source}${trailing ? '.*' : ''}$`);
  return { rule, pattern, methods: rule.methods ? new Set(rule.methods.map((m) => m.toUpperCase())) : null };
}

export class RouteTable {
  private readonly routes: readonly CompiledRoute[];

  constructor(rules: readonly RouteRule[]) {
    this.routes = rules.map(compileRoute);
  }

  /** The first rule matching this method and (normalised) path, or null. */
  match(method: string, path: string): RouteRule | null {
    const upper = method.toUpperCase();
    for (const route of this.routes) {
      if (route.methods !== null && !route.methods.has(upper)) continue;
      if (route.pattern.test(path)) return route.rule;
    }
    return null;
  }
}
