/**
 * The request a proxy asks about (SPEC §5, forward auth): from `X-Original-URI` (nginx),
 * `X-Forwarded-Uri` / `-Method` (Traefik), or the path after `/auth/v1/check` with the request's
 * own method (Envoy `ext_authz`). Only origin-form URIs are accepted; the path is normalised the
 * way a proxy normalises it before routing (dot segments resolved), so `/public/../private`
 * cannot borrow the scope of `/public/*`.
 */
import type { FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.js';
import { parseQuery, type QueryValues } from './query.js';

export const CHECK_PREFIX = '/auth/v1/check';
const MAX_URI_LENGTH = 8192;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const NEEDS_NORMALISING = /%|\/\/|\/\.\.?(?:\/|$)/;

export interface OriginalRequest {
  readonly method: string;
  /** Normalised path, still percent-encoded. */
  readonly path: string;
  readonly query: QueryValues;
  /** Whether the auth URL's own query belongs to the proxy (header styles), not to the client. */
  readonly authQueryIsProxys: boolean;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** @throws AppError `original_uri_required` or `original_uri_invalid`. */
export function originalRequest(request: FastifyRequest): OriginalRequest {
  const nginx = header(request, 'x-original-uri');
  const traefik = header(request, 'x-forwarded-uri');
  // Envoy: everything after the prefix, query included, is the original request's.
  const rest = request.url.slice(CHECK_PREFIX.length);
  const envoy = rest === '' || rest.startsWith('?') ? undefined : rest;
  // Proxies pass the client's own headers to the auth request too (Traefik does by default), so
  // a client can add another style's header. Exactly one source is accepted; two are refused
  // rather than guessed at, or a client could choose which URI, and which scope, is checked.
  const sources = (nginx !== undefined ? 1 : 0) + (traefik !== undefined ? 1 : 0) + (envoy !== undefined ? 1 : 0);
  if (sources > 1) throw new AppError('original_uri_invalid');
  if (nginx !== undefined) return parse(nginx, header(request, 'x-original-method') ?? request.method, true);
  if (traefik !== undefined) return parse(traefik, header(request, 'x-forwarded-method') ?? request.method, true);
  if (envoy !== undefined) return parse(envoy, request.method, false);
  throw new AppError('original_uri_required');
}

function parse(uri: string, method: string, authQueryIsProxys: boolean): OriginalRequest {
  if (uri.length === 0) throw new AppError('original_uri_required');
  // `//host/...` reads as a scheme-relative URL to some parsers: not origin-form, refused.
  if (uri.length > MAX_URI_LENGTH || !uri.startsWith('/') || uri.startsWith('//')) throw new AppError('original_uri_invalid');
  if (CONTROL.test(uri) || BAD_ESCAPE.test(uri) || !/^[A-Z]{1,20}$/i.test(method)) throw new AppError('original_uri_invalid');
  const hash = uri.indexOf('#');
  const target = hash === -1 ? uri : uri.slice(0, hash);
  const q = target.indexOf('?');
  const path = normalisePath(q === -1 ? target : target.slice(0, q));
  return { method: method.toUpperCase(), path, query: parseQuery(q === -1 ? '' : target.slice(q + 1)), authQueryIsProxys };
}

/**
 * The path as a proxy routes it (nginx's `$uri`, Go's `path.Clean`): percent-decoded, repeated
 * slashes merged, then `.` and `..` segments resolved. Route rules match this form, so no
 * spelling of a path (`/public//../private`, `/public/%2e%2e/private`) can borrow another
 * path's scope.
 */
export function normalisePath(rawPath: string): string {
  // The common case is already normal: nothing encoded, no empty or dot segment.
  if (!NEEDS_NORMALISING.test(rawPath)) return rawPath;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new AppError('original_uri_invalid');
  }
  if (CONTROL.test(decoded)) throw new AppError('original_uri_invalid');
  const out: string[] = [];
  const segments = decoded.replace(/\/{2,}/g, '/').split('/');
  for (const [i, segment] of segments.entries()) {
    if (segment === '..') out.pop();
    else if (segment !== '.' && (segment !== '' || i === segments.length - 1)) out.push(segment);
  }
  const last = segments.at(-1);
  const trailing = last === '.' || last === '..' ? '/' : '';
  return `/${out.join('/')}${trailing}`.replace(/\/{2,}/g, '/');
}
