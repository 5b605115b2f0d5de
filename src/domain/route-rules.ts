/**
 * Route rules (SPEC §5, §7 `routes`): which scope a request to the operator's API needs. Rules
 * are tried in config order; in a `path` glob a trailing `*` matches the rest of the path and an
 * inner `*` exactly one segment, and `/x/*` matches `/x` itself too (an operator who protects
 * `/private/*` means `/private` as well; without this, `/private` would fall through to a later
 * catch-all `/*`). A rule with `methods` matches only those methods.
 */
import { AppError } from './errors.js';

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

function compileRoute(rule: RouteRule): CompiledRoute {
  const trailing = rule.path.endsWith('*');
  const body = trailing ? rule.path.slice(0, -1) : rule.path;
  let source: string;
  if (trailing && body.endsWith('/')) {
    // `/x/*`: `/x`, `/x/` and everything below it.
    source = `${body.slice(0, -1).split('*').map(escape).join('[^/]+')}(?:/.*)?`;
  } else {
    source = `${body.split('*').map(escape).join('[^/]+')}${trailing ? '.*' : ''}`;
  }
  const pattern = new RegExp(`^${source}$`);
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

  /**
   * The rule for `path`, provided every other reading of it (the ways some upstream may read the
   * same request: `%2F` as data, `;` parameters dropped) gets the same decision: the same scope
   * and upstream, or no rule for all. Otherwise tokenbox would check one path and the upstream
   * serve another.
   *
   * @throws AppError `original_uri_invalid` when the readings disagree.
   */
  matchEvery(method: string, path: string, otherReadings: readonly string[]): RouteRule | null {
    const rule = this.match(method, path);
    for (const other of otherReadings) {
      const alternative = this.match(method, other);
      if (alternative?.scope !== rule?.scope || alternative?.upstream !== rule?.upstream) throw new AppError('original_uri_invalid');
    }
    return rule;
  }
}
