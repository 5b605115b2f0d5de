/**
 * Route rules (SPEC §5, §7 `routes`): which scope a request to the operator's API needs. Rules
 * are tried in config order; in a `path` glob a trailing `*` matches the rest of the path and an
 * inner `*` exactly one segment, and `/x/*` matches `/x` itself too (an operator who protects
 * `/private/*` means `/private` as well; without this, `/private` would fall through to a later
 * catch-all `/*`). A rule with `methods` matches only those methods.
 */
import { AppError } from './errors.js';

/**
 * tokenbox's own path prefixes (SPEC §5): no route rule may claim one, and the gateway never
 * forwards a path under one, whatever rule matches it.
 */
export const RESERVED_PREFIXES: readonly string[] = Object.freeze([
  '/tokens/',
  '/scopes/',
  '/admin/',
  '/analytics/',
  '/auth/',
  '/account/',
  '/health',
  '/openapi.json',
]);

/** Whether `path` is one of tokenbox's own (a reserved prefix, or the exact path it names without its slash). */
export function isReservedPath(path: string): boolean {
  for (const prefix of RESERVED_PREFIXES) {
    if (path.startsWith(prefix) || (prefix.endsWith('/') && path === prefix.slice(0, -1))) return true;
  }
  return false;
}

export interface RouteRule {
  readonly path: string;
  readonly methods?: readonly string[] | undefined;
  readonly scope: string;
  /** `http(s)://host[:port]`: the gateway proxies matching requests there. */
  readonly upstream?: string | undefined;
  /** Requests per 60 s per account on this rule (SPEC §7), counted after verification. */
  readonly rateLimit?: number | undefined;
}

export interface CompiledRoute {
  readonly rule: RouteRule;
  /** The rule's position in the config: a route limit's bucket is per rule and account. */
  readonly index: number;
  readonly pattern: RegExp;
  readonly methods: ReadonlySet<string> | null;
}

function escape(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

function compileRoute(rule: RouteRule, index: number): CompiledRoute {
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
  return { rule, index, pattern, methods: rule.methods ? new Set(rule.methods.map((m) => m.toUpperCase())) : null };
}

export class RouteTable {
  private readonly routes: readonly CompiledRoute[];
  /** Whether any rule has a `rateLimit` (else forward auth never matches rules just for one). */
  readonly hasRateLimits: boolean;

  constructor(rules: readonly RouteRule[]) {
    this.routes = rules.map(compileRoute);
    this.hasRateLimits = rules.some((r) => r.rateLimit !== undefined);
  }

  /** The first rule matching this method and (normalised) path, or null. */
  match(method: string, path: string): CompiledRoute | null {
    const upper = method.toUpperCase();
    for (const route of this.routes) {
      if (route.methods !== null && !route.methods.has(upper)) continue;
      if (route.pattern.test(path)) return route;
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
  matchEvery(method: string, path: string, otherReadings: readonly string[]): CompiledRoute | null {
    const route = this.match(method, path);
    for (const other of otherReadings) {
      const alternative = this.match(method, other);
      if (alternative?.rule.scope !== route?.rule.scope || alternative?.rule.upstream !== route?.rule.upstream) throw new AppError('original_uri_invalid');
    }
    return route;
  }
}
