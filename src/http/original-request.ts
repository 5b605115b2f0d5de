/**
 * The request a proxy asks about (SPEC §5, forward auth): from `X-Original-URI` (nginx),
 * `X-Forwarded-Uri` / `-Method` (Traefik), or the path after `/auth/v1/check` with the request's
 * own method (Envoy `ext_authz`). Only origin-form URIs are accepted; the path is normalised the
 * way a proxy normalises it before routing (dot segments resolved), so `/public/../private`
 * cannot borrow the scope of `/public/*`.
 */
import { METHODS, type IncomingHttpHeaders } from 'node:http';
import { AppError } from '../domain/errors.js';
import { parseQuery, type QueryValues } from './query.js';

export const CHECK_PREFIX = '/auth/v1/check';
const MAX_URI_LENGTH = 8192;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** One test on the common path: anything to decode, check or resolve (`%`, `;`, `\`, `//`, dot segments). */
const NEEDS_NORMALISING = /[%;\\]|\/\/|\/\.\.?(?:\/|$)/;
/** An encoded `.`, `/` or `\` left after one decode (`%252e`, `%25252f`…): double encoding. */
const STILL_ENCODED = /%(?:25)*(?:2e|2f|5c)/i;
/** A `.` or `..` segment with a `;` parameter (`/..;/`, `/%2e%2e;x/`): Tomcat and Spring drop the parameter. */
const DOT_SEGMENT_WITH_PARAMETER = /(?:^|\/)(?:\.|%2e){1,2}(?:;|%3b)/i;
const ENCODED_SLASH = /%2f/i;
/** RFC 9110 `token`: every method name Node parses (`M-SEARCH`) and the registered ones it does not (`VERSION-CONTROL`). */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
/** The method names Node's parser accepts, all upper case already. */
const NODE_METHODS: ReadonlySet<string> = new Set(METHODS);
const NO_READINGS: readonly string[] = Object.freeze([]);
/**
 * Stands for an encoded slash while a path is read with `%2F` as data: a lone surrogate, which
 * neither a header value nor the request line (both latin1) nor a valid decode can hold.
 */
const SLASH_AS_DATA = '\ud800';

export interface OriginalRequest {
  readonly method: string;
  /**
   * The path as tokenbox matches it: percent-decoded once, slashes merged, dot segments resolved
   * (see {@link readPath}). Exactly as written when nothing needed normalising.
   */
  readonly path: string;
  /**
   * The other ways a common upstream may read the same path (`%2F` kept as data; `;` parameters
   * dropped), when they differ from `path`. Route rules must pick the same rule for every one.
   */
  readonly otherReadings: readonly string[];
  readonly query: QueryValues;
  /** Whether the auth URL's own query belongs to the proxy (header styles), not to the client. */
  readonly authQueryIsProxys: boolean;
}

/** What the original request is read from: the auth request (Fastify's or Node's). */
export interface AuthRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/**
 * A header's one value (a repeated header Node joins or keeps as an array: not a string here).
 * Callers read each header by its literal name: a shared `headers[name]` would be one property
 * access site for every name, which V8 then looks up generically (megamorphic) on every check.
 */
function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** @throws AppError `original_uri_required` or `original_uri_invalid`. */
export function originalRequest(request: AuthRequest): OriginalRequest {
  const { headers } = request;
  const nginx = single(headers['x-original-uri']);
  const traefik = single(headers['x-forwarded-uri']);
  // Envoy: everything after the prefix, query included, is the original request's.
  const rest = request.url.slice(CHECK_PREFIX.length);
  const envoy = rest === '' || rest.startsWith('?') ? undefined : rest;
  // Proxies pass the client's own headers to the auth request too (Traefik does by default), so
  // a client can add another style's header. Exactly one source is accepted; two are refused
  // rather than guessed at, or a client could choose which URI, and which scope, is checked.
  const sources = (nginx !== undefined ? 1 : 0) + (traefik !== undefined ? 1 : 0) + (envoy !== undefined ? 1 : 0);
  if (sources > 1) throw new AppError('original_uri_invalid');
  if (nginx !== undefined) return parse(nginx, single(headers['x-original-method']) ?? request.method, true);
  if (traefik !== undefined) return parse(traefik, single(headers['x-forwarded-method']) ?? request.method, true);
  if (envoy !== undefined) return parse(envoy, request.method, false);
  throw new AppError('original_uri_required');
}

/**
 * A request target read the way forward auth reads an original URI, with the same refusals: the
 * gateway judges its own requests with it (SPEC §5: forward auth and the gateway refuse alike).
 *
 * @throws AppError `original_uri_required` or `original_uri_invalid`.
 */
export function readRequestTarget(uri: string, method: string): OriginalRequest {
  return parse(uri, method, false);
}

function parse(uri: string, method: string, authQueryIsProxys: boolean): OriginalRequest {
  if (uri.length === 0) throw new AppError('original_uri_required');
  // `//host/...` reads as a scheme-relative URL to some parsers: not origin-form, refused.
  if (uri.length > MAX_URI_LENGTH || !uri.startsWith('/') || uri.startsWith('//')) throw new AppError('original_uri_invalid');
  if (CONTROL.test(uri) || (uri.includes('%') && BAD_ESCAPE.test(uri)) || !isMethod(method)) throw new AppError('original_uri_invalid');
  const hash = uri.indexOf('#');
  const target = hash === -1 ? uri : uri.slice(0, hash);
  const q = target.indexOf('?');
  const { path, otherReadings } = readPath(q === -1 ? target : target.slice(0, q));
  return {
    method: NODE_METHODS.has(method) ? method : method.toUpperCase(),
    path,
    otherReadings,
    query: parseQuery(q === -1 ? '' : target.slice(q + 1)),
    authQueryIsProxys,
  };
}

/** A method name: one Node parses (the common case, one lookup), else any RFC 9110 token. */
function isMethod(method: string): boolean {
  return NODE_METHODS.has(method) || METHOD.test(method);
}

/**
 * The path as tokenbox matches it, and how else an upstream may read it. Refused (400
 * `original_uri_invalid`) when common upstreams read it differently from any one reading:
 *
 * - a backslash, raw or as `%5C` (IIS, some Windows and Java servers read it as `/`);
 * - an encoded `.`, `/` or `\` still there after one decode (`%252e%252e`): an upstream that
 *   decodes twice walks out of the path tokenbox checked;
 * - a `.` or `..` segment with a `;` parameter (`/public/..;/private`): Tomcat and Spring drop
 *   path parameters, so that is `/private` to them and a literal segment to tokenbox.
 *
 * A single `%2F` and `;` parameters on other segments are kept: a search text holds a slash
 * (`/geocoding/v5/mapbox.places/3%2F45%20Main%20St.json`), Mapbox's directions hold `;`. Instead
 * `otherReadings` carries the `%2F`-as-data and the parameters-dropped readings, and route rules
 * refuse a path whose readings pick different rules (docs/forward-auth.md).
 */
function readPath(rawPath: string): { path: string; otherReadings: readonly string[] } {
  // The common case is already normal: nothing encoded, no parameter, no empty or dot segment.
  if (!NEEDS_NORMALISING.test(rawPath)) return { path: rawPath, otherReadings: NO_READINGS };
  if (rawPath.includes('\\') || DOT_SEGMENT_WITH_PARAMETER.test(rawPath)) throw new AppError('original_uri_invalid');
  const path = normalisePath(rawPath);
  const others: string[] = [];
  if (ENCODED_SLASH.test(rawPath)) {
    const slashAsData = resolveDots(decode(rawPath.replace(/%2f/gi, SLASH_AS_DATA))).replaceAll(SLASH_AS_DATA, '%2F');
    if (slashAsData !== path) others.push(slashAsData);
  }
  if (rawPath.includes(';')) {
    const withoutParameters = normalisePath(rawPath.replace(/;[^/]*/g, ''));
    if (withoutParameters !== path) others.push(withoutParameters);
  }
  return { path, otherReadings: others.length === 0 ? NO_READINGS : others };
}

/**
 * The path as a proxy routes it (nginx's `$uri`, Go's `path.Clean`): percent-decoded, repeated
 * slashes merged, then `.` and `..` segments resolved. Route rules match this form, so no
 * spelling of a path (`/public//../private`, `/public/%2e%2e/private`) can borrow another
 * path's scope.
 */
function normalisePath(rawPath: string): string {
  if (!NEEDS_NORMALISING.test(rawPath)) return rawPath;
  if (rawPath.includes('\\')) throw new AppError('original_uri_invalid');
  const decoded = decode(rawPath);
  if (decoded.includes('\\') || STILL_ENCODED.test(decoded)) throw new AppError('original_uri_invalid');
  return resolveDots(decoded);
}

/** One percent-decode; undecodable or control characters: `original_uri_invalid`. */
function decode(rawPath: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new AppError('original_uri_invalid');
  }
  if (CONTROL.test(decoded)) throw new AppError('original_uri_invalid');
  return decoded;
}

/** Repeated slashes merged, then `.` and `..` segments resolved (Go's `path.Clean`, nginx's `$uri`). */
function resolveDots(decoded: string): string {
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
