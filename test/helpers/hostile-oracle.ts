/**
 * The judge of the hostile-request suite: what SPEC says about any answer to any request, whether
 * a request could legitimately change the store, and what a log must never hold.
 *
 * "Store unchanged" needs requests that must fail, yet real write-capable tokens should still
 * reach deep code. The rule, decided on the request's structure before any decoration or
 * encoding of its path (so no spelling of the path can slip past it), is in `mayChangeStore`:
 * a request may change the store only if it carries an sk holding `tokens:write` in any place or
 * spelling, uses POST, PATCH or DELETE, and its path names that sk's own account and then
 *   - POST: a body that SPEC would accept as a create (any body with `expires` is a temporary
 *     token, which is never stored);
 *   - PATCH: one of the account's stored ids and a body SPEC would accept as an update;
 *   - DELETE: one of the account's stored ids.
 * Only those are filtered out. Every other token may do anything: pks, sks without
 * `tokens:write`, forged, mutated and deleted tokens, and tks, which per SPEC §4.4 never create,
 * update or delete a pk or sk, whatever scopes they hold.
 */
import { METHODS } from 'node:http';
import type { HostileRequest } from './hostile-requests.js';
import { secretOf, type HostileWorld, type SeededToken } from './hostile-world.js';

const BODY_LIMIT = 256 * 1024;
const CREATE_KEYS = new Set(['note', 'scopes', 'allowedUrls', 'allowedApplications', 'resources']);
const PLATFORMS = new Set(['ios', 'android', 'macos']);
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

type Json = Record<string, unknown>;

/** The body as the server parses it, or undefined when it cannot be a JSON object. */
function parsedObject(body: Buffer | undefined): Json | undefined | 'empty' {
  if (body === undefined || body.length === 0) return 'empty';
  if (body.length > BODY_LIMIT) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** True only where SPEC leaves no doubt that the field is refused (§3, §4.3, §4.4, §5). */
function isNoteRefused(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v !== 'string') return true;
  return CONTROL.test(v) || LONE_SURROGATE.test(v) || [...v].length > 1000;
}

function isScopesRefused(v: unknown, world: HostileWorld, caller: SeededToken): boolean {
  if (v === null || v === undefined) return false;
  if (!Array.isArray(v)) return true;
  return v.some((s) => typeof s !== 'string' || !world.scopes.includes(s) || !caller.scopes.includes(s));
}

function isUrlsRefused(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (!Array.isArray(v) || v.length === 0 || v.length > 100) return true;
  return v.some((u) => typeof u !== 'string' || u.length === 0 || u.length > 2048 || u.includes('*'));
}

function isAppsRefused(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (!Array.isArray(v) || v.length === 0 || v.length > 100) return true;
  return v.some((a) => {
    if (typeof a !== 'object' || a === null) return true;
    const { platform, bundleId } = a as Json;
    return (
      typeof platform !== 'string' ||
      !PLATFORMS.has(platform.toLowerCase()) ||
      typeof bundleId !== 'string' ||
      !/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(bundleId)
    );
  });
}

function hasRefusedField(body: Json, caller: SeededToken, world: HostileWorld): boolean {
  if (Object.keys(body).some((k) => !CREATE_KEYS.has(k))) return true;
  return (
    isNoteRefused(body.note) ||
    isScopesRefused(body.scopes, world, caller) ||
    isUrlsRefused(body.allowedUrls) ||
    isAppsRefused(body.allowedApplications) ||
    ('resources' in body && body.resources !== null)
  );
}

export function mayChangeStore(req: HostileRequest, world: HostileWorld): boolean {
  if (!['POST', 'PATCH', 'DELETE'].includes(req.method) || req.target.kind !== 'tokens') return false;
  const { user, id } = req.target;
  for (const writer of req.real) {
    if (writer.writes !== user) continue;
    if (req.method === 'DELETE' && id !== null && id !== 'other') return true;
    const body = parsedObject(req.body);
    if (req.method === 'POST' && id === null) {
      if (body === 'empty') return true;
      if (body !== undefined && !Object.hasOwn(body, 'expires') && !hasRefusedField(body, writer, world)) return true;
    }
    if (req.method === 'PATCH' && id !== null && id !== 'other') {
      if (body === 'empty') return true;
      if (body === undefined) continue;
      // The default token takes no restrictions: a non-null list is refused.
      const defaultRefuses =
        id.isDefault &&
        ((Array.isArray(body.allowedUrls) && body.allowedUrls.length > 0) || (Array.isArray(body.allowedApplications) && body.allowedApplications.length > 0));
      if (!defaultRefuses && !hasRefusedField(body, writer, world)) return true;
    }
  }
  return false;
}

export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

const CHECK = /^\/auth\/v1\/check(?:[/?#]|$)/;
/**
 * Fastify's answer when Node's HTTP parser refuses a request (an unknown method, headers over
 * 16 KB): tokenbox's routes never saw it, so forward auth's headers cannot be on it.
 */
function isParserRefusal(res: Reply): boolean {
  if (res.status !== 400 && res.status !== 431) return false;
  try {
    const body = JSON.parse(res.body) as Record<string, unknown>;
    return Object.keys(body).sort().join() === 'error,message,statusCode' && body.statusCode === res.status;
  } catch {
    return false;
  }
}
const FORWARD_AUTH_METHODS = new Set(METHODS.filter((m) => m !== 'CONNECT'));
const TOKEN_SHAPE = /(pk|sk|tk)\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}/;

/** Paths that answer 2xx without a token (the decoded path, query and fragment cut). */
function isOpenPath(path: string): boolean {
  const bare = path.split(/[?#]/, 1)[0] as string;
  let decoded = bare;
  try {
    decoded = decodeURIComponent(bare);
  } catch {
    // undecodable: compare as sent
  }
  return ['/health', '/openapi.json', '/tokens/v2'].includes(decoded) || ['/health', '/openapi.json', '/tokens/v2'].includes(bare);
}

/** Problems with one answer, as sentences; empty when the answer keeps every rule. */
export function judgeReply(req: HostileRequest, res: Reply): string[] {
  const problems: string[] = [];
  const header = (name: string) => {
    const v = res.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const isCheck = CHECK.test(req.path);
  const hasBody = req.method !== 'HEAD';
  if (res.status >= 500) problems.push(`answered ${res.status} (no request may get a 5xx; the store is up)`);
  // The APIs never redirect (SPEC §3); the page sends a browser without a session to its sign-in
  // page (SPEC §9), and only there or to its token list.
  const pageRedirect = /^\/account(\/|$)/.test(req.path) && /^\/account\/(sign-in|access-tokens)$/.test(header('location') ?? '');
  if (res.status >= 300 && res.status < 400 && !(pageRedirect && (req.method === 'GET' || req.method === 'HEAD')))
    problems.push(`answered ${res.status} (tokenbox never redirects, but for the page's navigations)`);
  if (header('access-control-allow-credentials') !== undefined) problems.push('sent Access-Control-Allow-Credentials');
  let message: unknown;
  if (res.status >= 400 && hasBody) {
    try {
      message = (JSON.parse(res.body) as { message?: unknown }).message;
    } catch {
      message = undefined;
    }
    if (typeof message !== 'string') problems.push(`a ${res.status} without a JSON {message} body: ${JSON.stringify(res.body.slice(0, 200))}`);
    if (!/^application\/json/i.test(header('content-type') ?? '')) problems.push(`a ${res.status} with content-type ${JSON.stringify(header('content-type'))}`);
  }
  if (TOKEN_SHAPE.test(res.body) && !/no-store/.test(header('cache-control') ?? ''))
    problems.push('a token string in a response without Cache-Control: no-store');

  const live = req.real.filter((t) => t.live);
  const parserRefused = isParserRefusal(res);
  if (isCheck && FORWARD_AUTH_METHODS.has(req.method) && !parserRefused) {
    if (res.status === 200) {
      if (hasBody && res.body !== '') problems.push(`forward auth 200 with a body: ${JSON.stringify(res.body.slice(0, 100))}`);
      const user = header('x-tokenbox-user');
      const id = header('x-tokenbox-token-id');
      if (!live.some((t) => t.user === user && t.rootId === id && t.usage === header('x-tokenbox-usage'))) {
        problems.push(`forward auth 200 for ${user}/${id}/${header('x-tokenbox-usage')}, which no live token in the request is`);
      }
    } else {
      if (header('x-tokenbox-status') !== String(res.status))
        problems.push(`forward auth ${res.status} with X-Tokenbox-Status ${JSON.stringify(header('x-tokenbox-status'))}`);
      if (hasBody && typeof message === 'string' && header('x-tokenbox-message') !== message)
        problems.push(`forward auth ${res.status} with X-Tokenbox-Message ${JSON.stringify(header('x-tokenbox-message'))} for ${JSON.stringify(message)}`);
    }
  } else if (res.status >= 200 && res.status < 300 && !(req.method === 'OPTIONS' && res.status === 204) && !isOpenPath(req.path) && live.length === 0) {
    problems.push(`answered ${res.status} on a protected route without any live token in the request`);
  }
  return problems;
}

/** Every decoding a log reader might apply: as written, and percent-decoded up to three times. */
function readings(text: string): string[] {
  const out = [text];
  let current = text;
  for (let i = 0; i < 3 && /%[0-9A-Fa-f]{2}/.test(current); i++) {
    current = current.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    out.push(current);
  }
  return out;
}

/** Token-shaped strings, and secrets of seeded tokens, found in a stretch of log. */
export function findLeaks(log: string, world: HostileWorld): string[] {
  const found = new Set<string>();
  for (const text of readings(log)) {
    for (const m of text.matchAll(new RegExp(TOKEN_SHAPE.source, 'g'))) found.add(`token-shaped ${m[0].slice(0, 60)}…`);
    for (const t of world.tokens) if (text.includes(secretOf(t.token))) found.add(`the secret of ${t.name}`);
  }
  return [...found];
}

/** The log lines holding a leak, cut short, for a failure message. */
export function leakingLines(log: string, world: HostileWorld): string[] {
  return log
    .split('\n')
    .filter((line) => findLeaks(line, world).length > 0)
    .map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line));
}
