/**
 * The requests a proxy sends to forward auth for one check, in each of the three styles (nginx
 * `auth_request`, Traefik `forwardAuth`, Envoy `ext_authz`), and the route rules the forward-auth
 * suites give Envoy its scopes with.
 */
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { PUBLIC_SCOPE, SECRET_SCOPE, type VerdictWorld } from './verdict-world.js';

export type Style = 'nginx' | 'traefik' | 'envoy';
export const STYLES: readonly Style[] = ['nginx', 'traefik', 'envoy'];

/** Scopes the verdict table asks for; Envoy gets each from a route rule under `/need/<scope>/`. */
const TABLE_SCOPES = [PUBLIC_SCOPE, SECRET_SCOPE, 'geocode:read'];

export const ROUTES = [
  { path: '/tiles/*/info', scope: 'styles:read' },
  { path: '/tiles/*', methods: ['GET', 'HEAD'], scope: 'styles:tiles' },
  { path: '/tiles/*', methods: ['DELETE'], scope: 'map:write' },
  { path: '/geocode/v1/*.json', scope: 'datasets:read' },
  { path: '/public/*', scope: 'styles:tiles' },
  { path: '/private/*', scope: 'map:read' },
  { path: '/any/*', scope: 'styles:tiles' },
  { path: '/dav/*', methods: ['PROPFIND', 'MKCOL', 'M-SEARCH', 'PURGE'], scope: 'map:write' },
  ...TABLE_SCOPES.map((scope) => ({ path: `/need/${scope}/*`, scope })),
];

/** What the proxy asks about. */
export interface Check {
  /** The original request's method (default GET). */
  readonly method?: string;
  /** The original path, with any query of the client's own (the token is appended). */
  readonly path: string;
  readonly token?: string | undefined;
  /** Present the token in `Authorization: Bearer` instead of `access_token`. */
  readonly viaBearer?: boolean;
  /** The auth URL's own `scope` parameter(s), header styles only. */
  readonly scopeParam?: string | readonly string[];
  /** Client headers the proxy passes on (Referer, Origin, X-Tokenbox-App-Id, forgeries). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly payload?: string | Buffer;
  readonly contentType?: string;
}

export function originalUri(check: Check): string {
  if (check.token === undefined || check.viaBearer) return check.path;
  return `${check.path}${check.path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(check.token)}`;
}

function scopeQuery(scope: Check['scopeParam']): string {
  if (scope === undefined) return '';
  const values = typeof scope === 'string' ? [scope] : scope;
  return `?${values.map((s) => `scope=${encodeURIComponent(s)}`).join('&')}`;
}

/** The request the proxy sends to tokenbox for `check`, in `style`. */
export function checkRequest(style: Style, check: Check): InjectOptions {
  const method = (check.method ?? 'GET') as InjectOptions['method'];
  const headers: Record<string, string> = { ...check.headers };
  if (check.viaBearer && check.token !== undefined) headers.authorization = `Bearer ${check.token}`;
  if (check.contentType) headers['content-type'] = check.contentType;
  const options: InjectOptions = { method, headers };
  if (check.payload !== undefined) options.payload = check.payload;
  if (style === 'nginx') {
    headers['x-original-uri'] = originalUri(check);
    headers['x-original-method'] = check.method ?? 'GET';
    options.url = `/auth/v1/check${scopeQuery(check.scopeParam)}`;
  } else if (style === 'traefik') {
    headers['x-forwarded-uri'] = originalUri(check);
    headers['x-forwarded-method'] = check.method ?? 'GET';
    headers['x-forwarded-host'] = 'api.example.com';
    headers['x-forwarded-proto'] = 'https';
    options.url = `/auth/v1/check${scopeQuery(check.scopeParam)}`;
  } else {
    assert.equal(check.scopeParam, undefined, 'Envoy has no auth-URL scope of its own');
    options.url = `/auth/v1/check${originalUri(check)}`;
  }
  return options;
}

export function rowCheck(style: Style, row: VerdictWorld['rows'][number]): Check {
  const headers: Record<string, string> = {};
  if (row.request.referrer !== undefined) headers.referer = row.request.referrer;
  if (row.request.origin !== undefined) headers.origin = row.request.origin;
  if (row.request.appId !== undefined) headers['x-tokenbox-app-id'] = row.request.appId;
  const base = { token: row.token, viaBearer: row.viaBearer, headers };
  return style === 'envoy' ? { ...base, path: `/need/${row.request.scope}/x` } : { ...base, path: '/plain/x', scopeParam: row.request.scope };
}
