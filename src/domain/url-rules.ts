/**
 * URL and app restrictions (SPEC §5). An `allowedUrls` entry with a scheme
 * (`^[a-z][a-z0-9+.-]*://`) must match the referrer's scheme and host exactly, its port if it
 * gives one, and its path as a prefix on a segment boundary. An entry without a scheme is a host
 * pattern (`example.com`, `example.com:8080`): that host and its subdomains, any scheme and path.
 * Hosts compare case-insensitively, as punycode, without a trailing dot; query and fragment are
 * ignored. Entries are compiled once per token record, not per request.
 */

/** An `allowedApplications` entry [ext]: matched against the `X-Tokenbox-App-Id` header. */
export interface AllowedApplication {
  readonly platform: string;
  readonly bundleId: string;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//;
const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443', ws: '80', wss: '443' };

export type UrlRule =
  | { readonly kind: 'host'; readonly host: string; readonly port: string | null }
  | { readonly kind: 'url'; readonly scheme: string; readonly host: string; readonly port: string | null; readonly path: string };

interface Location {
  readonly scheme: string;
  readonly host: string;
  /** The explicit port, or the scheme's default; '' when the scheme has none. */
  readonly port: string;
  readonly path: string;
}

function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

function locate(url: URL): Location | null {
  const scheme = url.protocol.slice(0, -1);
  const host = normaliseHost(url.hostname);
  if (host.length === 0) return null;
  return { scheme, host, port: url.port || DEFAULT_PORTS[scheme] || '', path: url.pathname || '/' };
}

/** A rule from one stored entry, or null for an entry that can never match. */
export function compileAllowedUrl(entry: string): UrlRule | null {
  const scheme = SCHEME.exec(entry)?.[1];
  try {
    if (scheme === undefined) {
      // Parsed as http only to normalise the host (IDN → punycode, case) and split the port.
      const url = new URL(`http://${entry}`);
      if (url.pathname !== '/' || url.search || url.hash || url.username) return null;
      return { kind: 'host', host: normaliseHost(url.hostname), port: url.port || null };
    }
    const url = new URL(entry);
    const where = locate(url);
    if (!where) return null;
    // The URL parser drops a default port (`:443` on https); the entry still named one.
    const authority = entry.slice(scheme.length + 3).split(/[/?#]/, 1)[0] ?? '';
    const named = /:(\d+)$/.exec(authority)?.[1];
    const port = named === undefined ? null : String(Number(named));
    return { kind: 'url', scheme, host: where.host, port, path: where.path.replace(/\/+$/, '') };
  } catch {
    return null;
  }
}

function ruleMatches(rule: UrlRule, where: Location): boolean {
  if (rule.kind === 'host') {
    if (rule.port !== null && rule.port !== where.port) return false;
    return where.host === rule.host || where.host.endsWith(`.${rule.host}`);
  }
  if (rule.scheme !== where.scheme || rule.host !== where.host) return false;
  if (rule.port !== null && rule.port !== where.port) return false;
  return rule.path === '' || where.path === rule.path || where.path.startsWith(`${rule.path}/`);
}

/**
 * Whether the request's referrer (its `Referer`, else its `Origin`) is allowed. A missing
 * referrer, `Origin: null`, or one that does not parse never matches.
 */
export function isUrlAllowed(rules: readonly UrlRule[], referrer: string | undefined): boolean {
  if (referrer === undefined || referrer === '' || referrer === 'null') return false;
  let where: Location | null;
  try {
    where = locate(new URL(referrer));
  } catch {
    return false;
  }
  return where !== null && rules.some((rule) => ruleMatches(rule, where));
}

/** Whether the request's app id (`X-Tokenbox-App-Id`) is one of the allowed bundle ids. */
export function isAppAllowed(apps: readonly AllowedApplication[], appId: string | undefined): boolean {
  return appId !== undefined && appId !== '' && apps.some((app) => app.bundleId === appId);
}
