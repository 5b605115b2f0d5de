/**
 * fast-check arbitraries for hostile HTTP requests against `tokenbox serve`: odd methods, raw
 * paths with encodings and dot segments, repeated and disguised `access_token` parameters, every
 * header tokenbox reads (and some it must not), bodies that are broken, deep, huge or poisoned,
 * and token strings real, mutated, forged, truncated and overlong, placed anywhere a client can
 * put them. Real tokens are mixed in so requests reach deep code paths.
 *
 * Each request records, beside its bytes, what the oracle needs: which real tokens it carries
 * (in any spelling) and which account and id its path names before any decoration.
 */
import { createHmac } from 'node:crypto';
import { METHODS } from 'node:http';
import fc from 'fast-check';
import { ROUTES, type HostileWorld, type SeededToken, type StoredId } from './hostile-world.js';

export type Focus = 'api' | 'forward-auth' | 'writes';

/** The account and id a path names, from its template (decorations never change them). */
export type Target = { readonly kind: 'none' } | { readonly kind: 'tokens'; readonly user: string; readonly id: StoredId | 'other' | null };

export class HostileRequest {
  constructor(
    readonly focus: Focus,
    readonly method: string,
    readonly path: string,
    readonly headers: Readonly<Record<string, string | string[]>>,
    readonly body: Buffer | undefined,
    /** Real tokens, exactly as seeded, present anywhere in the request in any spelling. */
    readonly real: readonly SeededToken[],
    readonly target: Target,
  ) {}

  /** Short enough to read in a failure message: long values are cut. */
  [fc.toStringMethod](): string {
    const cut = (s: string, n = 240) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);
    const headers = Object.entries(this.headers).map(([k, v]) => `${k}: ${cut(JSON.stringify(v), 200)}`);
    const body = this.body === undefined ? 'none' : `${this.body.length} bytes ${cut(JSON.stringify(this.body.toString('latin1')), 200)}`;
    const real = this.real.map((t) => t.name).join(', ') || 'none';
    return `${this.method} ${cut(this.path, 400)}\n    headers: ${headers.join(' | ') || 'none'}\n    body: ${body}\n    real tokens: ${real}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Token strings

interface TokenText {
  readonly text: string;
  readonly real: SeededToken | null;
}

const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64').replace(/=+$/, '');
}

type Mutation =
  | { kind: 'secret-char' | 'payload-char'; at: number; char: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; extra: string }
  | { kind: 'prefix'; prefix: string }
  | { kind: 'swap-secret'; other: number }
  | { kind: 'other-id'; at: number }
  | { kind: 'double' | 'overlong' | 'padded' };

function mutate(world: HostileWorld, token: string, m: Mutation): string {
  const [usage = '', payload = '', secret = ''] = token.split('.');
  const pick = (n: number) => SECRET_ALPHABET[n % SECRET_ALPHABET.length] as string;
  let out: string;
  switch (m.kind) {
    case 'secret-char': {
      const i = m.at % secret.length;
      out = `${usage}.${payload}.${secret.slice(0, i)}${pick(m.char)}${secret.slice(i + 1)}`;
      break;
    }
    case 'payload-char': {
      const i = m.at % payload.length;
      out = `${usage}.${payload.slice(0, i)}${pick(m.char).replace(/[-_]/, 'Q')}${payload.slice(i + 1)}.${secret}`;
      break;
    }
    case 'truncate':
      out = token.slice(0, m.at % token.length);
      break;
    case 'append':
      out = token + m.extra;
      break;
    case 'prefix':
      out = `${m.prefix}${token.slice(2)}`;
      break;
    case 'swap-secret': {
      const other = world.tokens[m.other % world.tokens.length] as SeededToken;
      out = `${usage}.${payload}.${other.token.slice(other.token.lastIndexOf('.') + 1)}`;
      break;
    }
    case 'double':
      out = token + token;
      break;
    case 'overlong':
      // A well-shaped string over the 4 KB limit: payload padded with base64 text.
      out = `${usage}.${payload}${'QUFB'.repeat(1100)}.${secret}`;
      break;
    case 'other-id': {
      // The same secret on another stored id: a well-formed string that is not the token.
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as Record<string, unknown>;
      } catch {
        // a payload that was never JSON stays {}
      }
      const others = world.ids.filter((s) => s.id !== json.a && s.id !== json.p);
      const other = others.length ? (others[m.at % others.length] as StoredId).id : 'c000000000000000000000000';
      if ('p' in json) json.p = other;
      else json.a = other;
      out = `${usage}.${b64(JSON.stringify(json))}.${secret}`;
      break;
    }
    case 'padded':
      out = `${usage}.${payload}==.${secret}`;
      break;
  }
  // A mutation must never give back the real string (a replaced character may equal the old one).
  return out === token ? `${token}A` : out;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('secret-char' as const, 'payload-char' as const), at: fc.nat(), char: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.constantFrom('A', '-', '.', '.x', '%00', ' ', '==', '\t') }),
  fc.record({ kind: fc.constant('prefix' as const), prefix: fc.constantFrom('pk', 'sk', 'tk', 'PK', 'Sk', 'xk', 'p', 'tkk', '', 'tba_') }),
  fc.record({ kind: fc.constant('swap-secret' as const), other: fc.nat() }),
  fc.record({ kind: fc.constant('other-id' as const), at: fc.nat() }),
  fc.record({ kind: fc.constantFrom('double' as const, 'overlong' as const, 'padded' as const) }),
);

/** A tk signed with a key that is not tokenbox's: every shape a client could try. */
function forgedTk(world: HostileWorld): fc.Arbitrary<string> {
  const user = fc.constantFrom(...world.users, 'carol');
  const p = fc.constantFrom(...world.ids.map((s) => s.id), 'c000000000000000000000000');
  const nowS = Math.floor(world.now / 1000);
  return fc
    .record({
      u: user,
      exp: fc.integer({ min: nowS - 7200, max: nowS + 90_000 }),
      iatSkew: fc.integer({ min: -3700, max: 600 }),
      scopes: fc.subarray([...world.scopes]),
      p,
      shape: fc.constantFrom('exact', 'no-p', 'extra-key', 'string-exp'),
      key: fc.uint8Array({ minLength: 16, maxLength: 32 }),
    })
    .map(({ u, exp, iatSkew, scopes, p: root, shape, key }) => {
      const body: Record<string, unknown> = { u, exp, iat: nowS + iatSkew, scopes, client: 'api', p: root };
      if (shape === 'no-p') delete body.p;
      if (shape === 'extra-key') body.admin = true;
      if (shape === 'string-exp') body.exp = String(exp);
      const payload = b64(JSON.stringify(body));
      const mac = createHmac('sha256', Buffer.from(key)).update(`tk.${payload}`).digest().subarray(0, 16).toString('base64url');
      return `tk.${payload}.${mac}`;
    });
}

function tokenText(world: HostileWorld, focus: Focus): fc.Arbitrary<TokenText> {
  const seeded = fc.constantFrom(...world.tokens);
  // Tokens that can reach a write: sks with tokens:write (kept to requests that must fail) and tks.
  const writers = fc.constantFrom(...world.tokens.filter((t) => t.live && (t.writes !== null || t.usage === 'tk')));
  return fc.oneof(
    { withCrossShrink: true },
    { weight: 6, arbitrary: seeded.map((t) => ({ text: t.token, real: t })) },
    { weight: focus === 'writes' ? 8 : 1, arbitrary: writers.map((t) => ({ text: t.token, real: t })) },
    { weight: 3, arbitrary: fc.tuple(seeded, mutation).map(([t, m]) => ({ text: mutate(world, t.token, m), real: null })) },
    { weight: 2, arbitrary: forgedTk(world).map((text) => ({ text, real: null })) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.constantFrom('', ' ', 'null', 'undefined', 'pk..', 'sk.e30.', 'tk.e30.AAAAAAAAAAAAAAAAAAAAAA', 'tba_' + 'A'.repeat(40), 'x'.repeat(5000)),
          fc.string({ maxLength: 40 }),
          fc.stringMatching(/^(pk|sk|tk)\.[A-Za-z0-9]{0,60}\.[A-Za-z0-9_-]{22}$/),
        )
        .map((text) => ({ text, real: null })),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Spellings and placements

// Mostly as issued, so real tokens authenticate and requests get past the first check.
const SPELLINGS = ['raw', 'raw', 'raw', 'raw', 'raw', 'raw', 'dots-upper', 'dots-lower', 'every-char', 'double-encoded', 'leading-space', 'quoted'] as const;
type Spelling = (typeof SPELLINGS)[number];

function spell(text: string, how: Spelling): string {
  switch (how) {
    case 'raw':
      return text;
    case 'dots-upper':
      return text.replaceAll('.', '%2E');
    case 'dots-lower':
      return text.replaceAll('.', '%2e');
    case 'every-char':
      return [...Buffer.from(text, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    case 'double-encoded':
      return text.replaceAll('.', '%252E');
    case 'leading-space':
      return `+${text}`;
    case 'quoted':
      return `%22${text}%22`;
  }
}

/** Makes a token string safe for a raw request line (Node refuses spaces and controls there). */
function pathSafe(text: string): string {
  return text.replace(/[^\u0021-\u007e]/g, (c) => encodeURIComponent(c));
}

/** Makes a string safe as a header value (Node refuses controls other than tab). */
function headerSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '?').replace(/[^\u0000-\u00ff]/g, '?');
}

const PLACES = [
  'query',
  'bearer',
  'query-name-variant',
  'query-repeat',
  'semicolon-path',
  'semicolon-query',
  'encoded-question',
  'fragment',
  'original-uri',
  'forwarded-uri',
  'referer',
  'origin',
  'x-tokenbox',
  'query-as-name',
  'start-param',
  'body',
] as const;
type Place = (typeof PLACES)[number];

/** Where tokens go: mostly where they count for the focus, anywhere else now and then. */
const PLACE_WEIGHTS: Record<Focus, Partial<Record<Place, number>>> = {
  api: { query: 6, bearer: 4 },
  'forward-auth': { 'original-uri': 8, 'forwarded-uri': 3, bearer: 4, query: 4 },
  writes: { query: 10, bearer: 10 },
};

function placeArb(focus: Focus): fc.Arbitrary<Place> {
  return fc.oneof(...PLACES.map((place) => ({ weight: PLACE_WEIGHTS[focus][place] ?? 1, arbitrary: fc.constant(place) })));
}

interface Placement {
  readonly place: Place;
  readonly token: number;
  readonly other: number;
  readonly spelling: Spelling;
  readonly variant: number;
}

const NAME_VARIANTS = [
  'ACCESS_TOKEN',
  'acc%65ss_token',
  'access_token+',
  'access%5Ftoken',
  'access_token[]',
  'access_token%20',
  '%20access_token',
  'access_token%00',
  'Access_Token',
  'token',
  'accessToken',
];

const AUTH_VARIANTS: ReadonlyArray<(t: string, u: string) => string | string[]> = [
  (t) => `Bearer ${t}`,
  (t) => `bearer ${t}`,
  (t) => `BEARER  ${t}`,
  (t) => `Bearer ${t}  `,
  (t) => `Bearer\t${t}`,
  (t, u) => `Bearer ${t}, Bearer ${u}`,
  (t) => `Basic ${Buffer.from(`${t}:`).toString('base64')}`,
  (t) => `Token ${t}`,
  (t) => t,
  (t, u) => [`Bearer ${t}`, `Bearer ${u}`],
];

// ---------------------------------------------------------------------------------------------
// Paths

type Seg = string | { readonly token: number } | { readonly user: string } | { readonly id: string };

interface PathTemplate {
  readonly segs: readonly Seg[];
  readonly target: Target;
}

const JUNK_USERS = ['carol', 'ALICE', 'a'.repeat(33), '..', '.', '__proto__', 'constructor', 'al ice', '-alice'];

function userArb(world: HostileWorld): fc.Arbitrary<string> {
  return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...world.users) }, { weight: 1, arbitrary: fc.constantFrom(...JUNK_USERS) });
}

/** An id for a path under `user`: one of the stored ones (any account's) or one that is not. */
function idArb(world: HostileWorld): fc.Arbitrary<StoredId | string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...world.ids) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.stringMatching(/^c[a-z0-9]{24}$/),
        fc.constantFrom('c' + 'a'.repeat(23), 'C' + 'A'.repeat(24), '..', '.', '__proto__', 'default', '%2e%2e', '0'),
      ),
    },
  );
}

function tokensTemplate(user: string, id?: StoredId | string): PathTemplate {
  if (id === undefined) return { segs: ['tokens', 'v2', { user }], target: { kind: 'tokens', user, id: null } };
  const stored = typeof id === 'string' ? null : id;
  return {
    segs: ['tokens', 'v2', { user }, { id: stored ? stored.id : (id as string) }],
    target: { kind: 'tokens', user, id: stored && stored.user === user ? stored : 'other' },
  };
}

const none = (segs: Seg[]): PathTemplate => ({ segs, target: { kind: 'none' } });

/** Any path: tokenbox's routes, their near misses, unknown routes, token strings as segments. */
function anyPath(world: HostileWorld): fc.Arbitrary<PathTemplate> {
  const tok = fc.nat(2).map((token) => ({ token }));
  const rest = fc.constantFrom(
    ['maps', 'a.png'],
    ['private', 'x'],
    ['internal', 'y'],
    ['..', 'private', 'x'],
    ['maps', '%2e%2e', 'private'],
    ['nowhere'],
    ['maps', '..;', 'private'],
  );
  const idText = (id: StoredId | string) => (typeof id === 'string' ? id : id.id);
  return fc.oneof(
    fc.tuple(userArb(world), fc.option(idArb(world), { nil: undefined })).map(([user, id]) => tokensTemplate(user, id)),
    fc.constant(none(['tokens', 'v2'])),
    userArb(world).map((user) => none(['scopes', 'v1', { user }])),
    fc.constantFrom(none(['health']), none(['openapi.json']), none([]), none(['admin', 'v1', 'accounts']), none(['account', 'access-tokens'])),
    fc.tuple(userArb(world), idArb(world)).map(([user, id]) => none(['tokens', 'v2', { user }, { id: idText(id) }, 'extra'])),
    fc.tuple(userArb(world), idArb(world)).map(([user, id]) => none(['analytics', 'v1', 'tokens', { user }, { id: idText(id) }])),
    userArb(world).map((user) => none(['tokens', 'v1', { user }])),
    tok.map((t) => none([t])),
    tok.map((t) => none(['tokens', 'v2', t])),
    fc.tuple(userArb(world), tok).map(([user, t]) => none(['tokens', 'v2', { user }, t])),
    tok.map((t) => none(['scopes', 'v1', t])),
    fc.array(fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{0,12}$/), { maxLength: 4 }).map((segs) => none(segs)),
    fc.constant(none(['auth', 'v1', 'check'])),
    rest.map((r) => none(['auth', 'v1', 'check', ...r])),
    tok.map((t) => none(['auth', 'v1', 'check', t])),
    tok.map((t) => none(['auth', 'v1', 'check', 'maps', t])),
  );
}

interface Shape {
  readonly method: string;
  readonly template: PathTemplate;
}

/**
 * Method and path together: mostly the operations tokenbox serves (so real tokens get deep),
 * and any method on any path for the rest.
 */
function shapeArb(world: HostileWorld, focus: Focus): fc.Arbitrary<Shape> {
  const user = fc.oneof({ weight: 4, arbitrary: fc.constant('alice') }, { weight: 2, arbitrary: fc.constant('bob') }, { weight: 1, arbitrary: userArb(world) });
  const at = (method: string | fc.Arbitrary<string>, template: fc.Arbitrary<PathTemplate>) =>
    fc.tuple(typeof method === 'string' ? fc.constant(method) : method, template).map(([m, t]): Shape => ({ method: m, template: t }));
  const list = at(
    'GET',
    user.map((u) => tokensTemplate(u)),
  );
  const create = at(
    'POST',
    user.map((u) => tokensTemplate(u)),
  );
  const update = at(
    'PATCH',
    fc.tuple(user, idArb(world)).map(([u, id]) => tokensTemplate(u, id)),
  );
  const remove = at(
    'DELETE',
    fc.tuple(user, idArb(world)).map(([u, id]) => tokensTemplate(u, id)),
  );
  const retrieve = at('GET', fc.constant(none(['tokens', 'v2'])));
  const scopes = at(
    'GET',
    user.map((u) => none(['scopes', 'v1', { user: u }])),
  );
  const check = at(methodArb('forward-auth'), fc.constant(none(['auth', 'v1', 'check'])));
  const envoy = at(
    methodArb('forward-auth'),
    fc
      .constantFrom(['maps', 'a.png'], ['private', 'x'], ['internal', 'y'], ['nowhere'], ['maps', '..', 'private'])
      .map((r) => none(['auth', 'v1', 'check', ...r])),
  );
  const anything = at(methodArb(focus), anyPath(world));
  const weights: Record<Focus, number[]> = {
    //          list create update delete retrieve scopes check envoy anything
    api: [3, 1, 1, 1, 2, 2, 1, 0, 5],
    'forward-auth': [0, 0, 0, 0, 0, 0, 8, 3, 2],
    writes: [0, 5, 4, 3, 0, 0, 0, 0, 1],
  };
  const all = [list, create, update, remove, retrieve, scopes, check, envoy, anything];
  return fc.oneof(...all.flatMap((arbitrary, i) => ((weights[focus][i] ?? 0) > 0 ? [{ weight: weights[focus][i] as number, arbitrary }] : [])));
}

type Decoration =
  | { kind: 'encode'; every: number; upper: boolean }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'replace-slash'; at: number; text: string }
  | { kind: 'append'; text: string }
  | { kind: 'long'; length: number }
  | { kind: 'upper' };

const decoration: fc.Arbitrary<Decoration> = fc.oneof(
  fc.record({ kind: fc.constant('encode' as const), every: fc.integer({ min: 1, max: 5 }), upper: fc.boolean() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom('/.', '/..', '/x/..', '/', ';x=1', '/%2e', '/%2E%2E', '/.%2e') }),
  fc.record({ kind: fc.constant('replace-slash' as const), at: fc.nat(), text: fc.constantFrom('//', '%2F', '%2f', '\\', '%5C', '/./') }),
  fc.record({ kind: fc.constant('append' as const), text: fc.constantFrom('/', '/.', '/..', '%', '%zz', '%00', '%ff', '%c0%ae', ';', '%20', '*', '~') }),
  fc.record({ kind: fc.constant('long' as const), length: fc.integer({ min: 1000, max: 4000 }) }),
  fc.constant({ kind: 'upper' as const }),
);

function encodeSome(path: string, every: number, upper: boolean): string {
  let n = 0;
  return path.replace(/[A-Za-z0-9]/g, (c) => {
    if (n++ % every !== 0) return c;
    const hex = c.charCodeAt(0).toString(16);
    return `%${upper ? hex.toUpperCase() : hex}`;
  });
}

function decorate(path: string, d: Decoration): string {
  const slashes = [...path.matchAll(/\//g)].map((m) => m.index);
  const at = (n: number) => (slashes.length ? (slashes[n % slashes.length] as number) : 0);
  switch (d.kind) {
    case 'encode':
      return encodeSome(path, d.every, d.upper);
    case 'insert': {
      const i = at(d.at);
      return `${path.slice(0, i)}${d.text}${path.slice(i)}`;
    }
    case 'replace-slash': {
      if (!slashes.length) return path;
      const i = at(d.at);
      // Never the leading slash: a request target must stay origin-form for Node to send it.
      return i === 0 ? path : `${path.slice(0, i)}${d.text}${path.slice(i + 1)}`;
    }
    case 'append':
      return path + d.text;
    case 'long':
      return `${path}/${'a'.repeat(d.length)}`;
    case 'upper':
      return path.toUpperCase();
  }
}

// ---------------------------------------------------------------------------------------------
// Query, headers, bodies

function listParam(world: HostileWorld): fc.Arbitrary<string> {
  const ids = world.ids.map((s) => s.id);
  return fc.oneof(
    fc.constantFrom('0', '1', '2', '100', '101', '-1', '1e2', 'abc', '', '%205', '05', '10.5', '9'.repeat(40)).map((v) => `limit=${v}`),
    fc.constantFrom(...ids, `1796000000000.${ids[0]}`, '12.c000000000000000000000000', 'garbage', '..', 'x'.repeat(1000), '-1.x').map((v) => `start=${v}`),
    fc.constantFrom('created', 'modified', 'CREATED', '', 'id', 'created&sortby=modified').map((v) => `sortby=${v}`),
    fc.constantFrom('true', 'false', '1', '').map((v) => `default=${v}`),
    fc.constantFrom('pk', 'sk', 'tk', '', 'PK').map((v) => `usage=${v}`),
    fc.constantFrom(...world.scopes, 'BAD', '', 'a:b', 'map:read&scope=styles:read', 'styles%3Aread').map((v) => `scope=${v}`),
    fc.constantFrom('__proto__[x]=1', 'constructor[prototype][y]=1', 'a=%', '%zz=1', '=', '&&', 'a=b=c', 'x', 'toString=1', 'hasOwnProperty=1'),
    fc.string({ maxLength: 30 }).map((s) => `${encodeURIComponent(s)}=${encodeURIComponent(s)}`),
  );
}

const METHOD_LIST = METHODS.filter((m) => m !== 'CONNECT');

function methodArb(focus: Focus): fc.Arbitrary<string> {
  const common = fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE');
  const writes = fc.constantFrom('POST', 'PATCH', 'DELETE');
  const odd = fc.constantFrom(...METHOD_LIST);
  // Not methods to Node's parser: refused before tokenbox sees them (a 400 the oracle allows).
  const junk = fc.constantFrom('FOO', 'GETS', 'X-HACK', 'PROPFINDX');
  if (focus === 'writes') return fc.oneof({ weight: 10, arbitrary: writes }, { weight: 1, arbitrary: odd });
  if (focus === 'forward-auth') return fc.oneof({ weight: 8, arbitrary: common }, { weight: 8, arbitrary: odd }, { weight: 1, arbitrary: junk });
  return fc.oneof({ weight: 16, arbitrary: common }, { weight: 6, arbitrary: odd }, { weight: 1, arbitrary: junk });
}

const CONTENT_TYPES = [
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=latin1',
  'application/json; charset=utf-16',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/jsonx',
  'application/json, text/plain',
  'application/vnd.api+json',
  '',
  '*/*',
  'application/json;;',
  'text/json',
];
const ORIGINAL_URIS = [
  '/maps/tile.png',
  '/maps/a/b',
  '/private/x',
  '/internal/x',
  '/maps/../private/x',
  '/maps/%2e%2e/private/x',
  '/maps/..;/private',
  '/maps\\..\\private',
  '/maps/%2fprivate',
  '//evil.example/maps',
  'https://evil.example/maps',
  '',
  ' /maps',
  '/maps/x?scope=map:read',
  '/maps/x?access_token=',
  '/maps/%zz',
  `/maps/${'a'.repeat(8200)}`,
  '/maps/x#frag',
  '/nowhere',
  '/maps/%00',
];
/** Paths the route rules cover (and one they do not) for a token in an original URI. */
const ORIGINAL_PATHS = ['/maps/x.png', '/private/y', '/internal/z', '/nowhere', '/maps/a/b'];
const REFERRERS = [
  'https://maps.example.com/app',
  'https://evil.example/',
  'null',
  '',
  'https://maps.example.com.evil.example/',
  'http://example.org:8080/x',
  'capacitor://localhost',
  'https://sub.example.org/?q=1#f',
  'MAPS.EXAMPLE.COM',
];

interface HeaderChoices {
  contentType?: string;
  originalUri?: string;
  originalMethod?: string;
  forwardedUri?: string;
  forwardedMethod?: string;
  forwardedHost?: string;
  forwardedFor?: string;
  referer?: string;
  origin?: string;
  tokenboxUser?: string;
  tokenboxUsage?: string;
  appId?: string;
  idempotencyKey?: string;
}

function headerChoices(world: HostileWorld, focus: Focus): fc.Arbitrary<HeaderChoices> {
  const fwd = focus === 'forward-auth' ? 0.3 : 0.05;
  // Present with probability p; absent (the smaller case, so shrinking drops it) otherwise.
  const opt = <T>(arb: fc.Arbitrary<T>, p: number): fc.Arbitrary<T | undefined> =>
    fc.oneof(
      { withCrossShrink: true },
      { weight: Math.round((1 - p) * 100), arbitrary: fc.constant(undefined) },
      { weight: Math.max(1, Math.round(p * 100)), arbitrary: arb },
    );
  return fc.record({
    contentType: opt(fc.constantFrom(...CONTENT_TYPES), 0.7),
    originalUri: opt(fc.constantFrom(...ORIGINAL_URIS), fwd),
    originalMethod: opt(fc.constantFrom('GET', 'POST', 'DELETE', 'PROPFIND', 'HEAD', 'MKCOL', 'get', 'G ET', '', 'A'.repeat(30)), fwd / 2),
    // Not the 8 KB one: two of them would pass Node's 16 KB header limit.
    forwardedUri: opt(fc.constantFrom(...ORIGINAL_URIS.filter((u) => u.length < 1000)), fwd / 2),
    forwardedMethod: opt(fc.constantFrom('GET', 'DELETE', 'MKCOL', 'x'), fwd / 3),
    forwardedHost: opt(fc.constantFrom('evil.example', '', 'maps.example.com'), 0.1),
    forwardedFor: opt(fc.constantFrom('1.2.3.4', '127.0.0.1, 10.0.0.1', 'garbage'), 0.1),
    referer: opt(fc.constantFrom(...REFERRERS), 0.2),
    origin: opt(fc.constantFrom(...REFERRERS), 0.15),
    tokenboxUser: opt(fc.constantFrom(...world.users, 'mallory'), 0.1),
    tokenboxUsage: opt(fc.constantFrom('sk', 'pk', 'tk'), 0.05),
    appId: opt(fc.constantFrom('com.example.app', '', 'x'.repeat(300)), 0.1),
    idempotencyKey: opt(fc.string({ maxLength: 20 }), 0.05),
  });
}

export type BodyPlan =
  | { kind: 'none' }
  | { kind: 'fields'; entries: ReadonlyArray<readonly [string, unknown]> }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'deep'; depth: number; inside: string }
  | { kind: 'sized'; bytes: number; field: string }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'token'; key: string; index: number };

const BODY_LIMIT = 256 * 1024;

function bodyPlan(world: HostileWorld, focus: Focus): fc.Arbitrary<BodyPlan> {
  const scope = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...world.scopes) },
    { weight: 1, arbitrary: fc.constantFrom('BAD', 'foo:bar', 'tokens:*', '', `${'a'.repeat(200)}:b`, 'styles:read ', 'x:y:z', 'Styles:read') },
  );
  const iso = (deltaMs: number) => new Date(world.now + deltaMs).toISOString();
  const field = fc.oneof(
    fc.tuple(
      fc.constant('note'),
      fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.constantFrom('', 'a\u0000b', '\ud800', 'x'.repeat(1001), '\u{1F600}'.repeat(600), 'ok'),
        fc.integer(),
        fc.constant(null),
        fc.constant(['a']),
      ),
    ),
    fc.tuple(
      fc.constant('scopes'),
      fc.oneof({ weight: 5, arbitrary: fc.array(scope, { maxLength: 6 }) }, { weight: 1, arbitrary: fc.constantFrom(null, 'styles:read', {}, [1], [null]) }),
    ),
    fc.tuple(
      fc.constant('allowedUrls'),
      fc.oneof(
        fc.constant([]),
        fc.array(
          fc.constantFrom(
            'https://maps.example.com',
            'example.org',
            '*.example.com',
            '',
            'javascript:alert(1)',
            'capacitor://localhost',
            'http://[::1]:80/',
            'x'.repeat(2100),
          ),
          { minLength: 1, maxLength: 3 },
        ),
        fc.constantFrom(null, 'https://x', [1]),
      ),
    ),
    fc.tuple(
      fc.constant('allowedApplications'),
      fc.constantFrom(
        [{ platform: 'iOS', bundleId: 'com.example.app' }],
        [],
        null,
        [{ platform: 'windows', bundleId: 'x' }],
        [{ platform: 'android', bundleId: '-bad' }],
        'x',
        [{ platform: 'android' }],
      ),
    ),
    fc.tuple(fc.constant('resources'), fc.constantFrom(null, [], {}, 'x')),
    fc.tuple(
      fc.constant('expires'),
      fc.oneof(fc.integer({ min: -7_200_000, max: 7_200_000 }).map(iso), fc.constantFrom('tomorrow', '', 123, null, '2026-13-45T99:00:00Z')),
    ),
    fc.tuple(
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'usage', 'id', 'default', 'token', 'client', 'p', 'createdBy', 'isDefault', 'toString'),
      fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant({ scopes: ['tokens:write'] })),
    ),
  );
  const temporary = fc
    .tuple(fc.integer({ min: -600_000, max: 4_000_000 }), fc.subarray([...world.scopes], { maxLength: 4 }))
    .map(([delta, scopes]): BodyPlan => ({
      kind: 'fields',
      entries: [
        ['expires', iso(delta)],
        ['scopes', scopes],
      ],
    }));
  // Bodies a create or update accepts, so real tokens get past validation to the access rules.
  const valid = fc
    .record({
      note: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
      scopes: fc.option(fc.subarray(['styles:read', 'fonts:read', 'tokens:read', 'tokens:write', 'map:read', 'scopes:list']), { nil: undefined }),
      allowedUrls: fc.option(fc.constantFrom(['https://maps.example.com'], ['example.org', 'capacitor://localhost'], null), { nil: undefined }),
      resources: fc.option(fc.constant(null), { nil: undefined }),
    })
    .map((r): BodyPlan => ({ kind: 'fields', entries: Object.entries(r).filter(([, v]) => v !== undefined) }));
  const weights = focus === 'writes' ? { none: 1, fields: 6, valid: 6, other: 3 } : { none: 10, fields: 3, valid: 1, other: 2 };
  return fc.oneof(
    { withCrossShrink: true },
    { weight: weights.none, arbitrary: fc.constant<BodyPlan>({ kind: 'none' }) },
    { weight: weights.fields, arbitrary: fc.array(field, { maxLength: 5 }).map((entries): BodyPlan => ({ kind: 'fields', entries })) },
    { weight: weights.fields, arbitrary: temporary },
    { weight: weights.valid, arbitrary: valid },
    {
      weight: weights.other,
      arbitrary: fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((value): BodyPlan => ({ kind: 'json', value })),
        fc
          .constantFrom(
            '{',
            '{"a":',
            "{'a':1}",
            '[1,]',
            'NaN',
            '\u0000',
            '{"note":"\\ud800"}',
            '',
            '   ',
            'null',
            '{} x',
            '{"scopes":["tokens:read"],"scopes":["map:write"]}',
            '{"__proto__":{"scopes":["tokens:write"]}}',
            '{"constructor":{"prototype":{"x":1}}}',
            '{"scopes":["styles:read"],"__proto__":{"admin":true}}',
            'note=x&scopes=a',
          )
          .map((text): BodyPlan => ({ kind: 'text', text })),
        fc.record({
          kind: fc.constant('deep' as const),
          depth: fc.integer({ min: 10, max: 120_000 }),
          inside: fc.constantFrom('note', 'scopes', 'x', 'allowedApplications', 'top'),
        }),
        fc.record({
          kind: fc.constant('sized' as const),
          bytes: fc.oneof(
            fc.integer({ min: 1000, max: BODY_LIMIT }),
            fc.integer({ min: BODY_LIMIT - 16, max: BODY_LIMIT + 16 }),
            fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT + 70_000 }),
          ),
          field: fc.constantFrom('note', 'x', 'scopes'),
        }),
        fc.uint8Array({ maxLength: 64 }).map((bytes): BodyPlan => ({ kind: 'bytes', bytes })),
      ),
    },
  );
}

function renderBody(plan: BodyPlan, tokenAt: (i: number) => string): Buffer | undefined {
  switch (plan.kind) {
    case 'none':
      return undefined;
    case 'fields':
      // Written by hand so `__proto__` and repeated keys reach the server as own keys.
      return Buffer.from(`{${plan.entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`);
    case 'json':
      return Buffer.from(JSON.stringify(plan.value) ?? 'null');
    case 'text':
      return Buffer.from(plan.text);
    case 'deep': {
      const nest = `${'['.repeat(plan.depth)}${']'.repeat(plan.depth)}`;
      return Buffer.from(plan.inside === 'top' ? nest : `{${JSON.stringify(plan.inside)}:${nest}}`);
    }
    case 'sized': {
      const open = `{${JSON.stringify(plan.field)}:"`;
      return Buffer.from(`${open}${'x'.repeat(Math.max(0, plan.bytes - open.length - 2))}"}`);
    }
    case 'bytes':
      return Buffer.from(plan.bytes);
    case 'token':
      return Buffer.from(JSON.stringify({ [plan.key]: tokenAt(plan.index) }));
  }
}

// ---------------------------------------------------------------------------------------------
// The request

export function hostileRequest(world: HostileWorld, focus: Focus): fc.Arbitrary<HostileRequest> {
  const placement: fc.Arbitrary<Placement> = fc.record({
    place: placeArb(focus),
    token: fc.nat(2),
    other: fc.nat(2),
    spelling: fc.constantFrom(...SPELLINGS),
    variant: fc.nat(),
  });
  return fc
    .record({
      shape: shapeArb(world, focus),
      decorations: fc.oneof(
        { withCrossShrink: true },
        { weight: focus === 'writes' ? 4 : 1, arbitrary: fc.constant<Decoration[]>([]) },
        { weight: 2, arbitrary: fc.array(decoration, { minLength: 1, maxLength: 2 }) },
      ),
      pool: fc.array(tokenText(world, focus), { minLength: 1, maxLength: 3 }),
      placements: fc.array(placement, { minLength: focus === 'api' ? 0 : 1, maxLength: focus === 'forward-auth' ? 2 : 3 }),
      params: fc.array(listParam(world), { maxLength: 4 }),
      headers: headerChoices(world, focus),
      body: bodyPlan(world, focus),
      // A plainly presented credential on top of the hostile ones, so many requests authenticate.
      clean: fc.oneof(
        { withCrossShrink: true },
        { weight: focus === 'api' ? 3 : 1, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.record({ token: fc.nat(2), bearer: fc.boolean() }) },
      ),
      fragment: fc.oneof(
        { withCrossShrink: true },
        { weight: 19, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom('#', '#x', '#access_token=1') },
      ),
    })
    .map((r) => assemble(focus, r));
}

interface Parts {
  shape: Shape;
  clean: { token: number; bearer: boolean } | undefined;
  decorations: readonly Decoration[];
  pool: TokenText[];
  placements: Placement[];
  params: string[];
  headers: HeaderChoices;
  body: BodyPlan;
  fragment: string | undefined;
}

function assemble(focus: Focus, r: Parts): HostileRequest {
  const used = new Set<number>();
  const tokenAt = (i: number) => {
    const index = i % r.pool.length;
    used.add(index);
    return (r.pool[index] as TokenText).text;
  };
  const { method, template } = r.shape;
  let path = `/${template.segs
    .map((s) => (typeof s === 'string' ? s : 'token' in s ? pathSafe(tokenAt(s.token)) : 'user' in s ? pathSafe(s.user) : pathSafe(s.id)))
    .join('/')}`;
  for (const d of r.decorations) path = decorate(path, d);

  const query = [...r.params];
  const headers: Record<string, string | string[]> = {};
  let fragment = r.fragment;
  let body = r.body;
  for (const p of r.placements) {
    const raw = tokenAt(p.token);
    const t = pathSafe(spell(raw, p.spelling));
    switch (p.place) {
      case 'query':
        query.push(`access_token=${t}`);
        break;
      case 'query-name-variant':
        query.push(`${NAME_VARIANTS[p.variant % NAME_VARIANTS.length]}=${t}`);
        break;
      case 'query-repeat':
        query.push(`access_token=${t}`, `access_token=${pathSafe(tokenAt(p.other))}`);
        break;
      case 'semicolon-path':
        path += `;access_token=${t}`;
        break;
      case 'semicolon-query':
        query.push(`x=1;access_token=${t}`);
        break;
      case 'encoded-question':
        path += `${p.variant % 2 ? '%3F' : '%3f'}access_token=${t}`;
        break;
      case 'fragment':
        fragment = `#access_token=${t}`;
        break;
      case 'bearer':
        {
          // The plain `Bearer <token>` half the time; every other spelling now and then.
          // tsc (noUncheckedIndexedAccess) needs the assertion that the linter's type view calls unnecessary.
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
          const variant = AUTH_VARIANTS[p.variant % (AUTH_VARIANTS.length * 2)] ?? (AUTH_VARIANTS[0] as (typeof AUTH_VARIANTS)[number]);
          headers.authorization = variant(headerSafe(raw), headerSafe(tokenAt(p.other)));
        }
        break;
      case 'original-uri':
        headers['x-original-uri'] = headerSafe(`${ORIGINAL_PATHS[p.variant % ORIGINAL_PATHS.length]}?${p.variant % 3 === 0 ? 'a=1&' : ''}access_token=${t}`);
        break;
      case 'forwarded-uri':
        headers['x-forwarded-uri'] = headerSafe(`${ORIGINAL_PATHS[(p.variant + 1) % ORIGINAL_PATHS.length]}?access_token=${t}`);
        break;
      case 'referer':
        headers.referer = headerSafe(`https://maps.example.com/app?access_token=${t}`);
        break;
      case 'origin':
        headers.origin = headerSafe(`https://${raw}`);
        break;
      case 'x-tokenbox':
        headers[p.variant % 2 ? 'x-tokenbox-token-id' : 'x-tokenbox-user'] = headerSafe(raw);
        break;
      case 'query-as-name':
        query.push(`${t}=1`);
        break;
      case 'start-param':
        query.push(`start=${t}`);
        break;
      case 'body':
        body = { kind: 'token', key: ['note', 'token', 'scopes', 'x'][p.variant % 4] as string, index: p.token };
        break;
    }
  }
  if (r.clean !== undefined) {
    const raw = tokenAt(r.clean.token);
    if (r.clean.bearer) headers.authorization = headerSafe(`Bearer ${raw}`);
    else if (focus === 'forward-auth')
      headers['x-original-uri'] = headerSafe(`${ORIGINAL_PATHS[r.clean.token % ORIGINAL_PATHS.length]}?access_token=${pathSafe(raw)}`);
    else query.push(`access_token=${pathSafe(raw)}`);
  }
  const h = r.headers;
  const named: ReadonlyArray<readonly [string, string | undefined]> = [
    ['content-type', h.contentType],
    ['x-original-uri', h.originalUri],
    ['x-original-method', h.originalMethod],
    ['x-forwarded-uri', h.forwardedUri],
    ['x-forwarded-method', h.forwardedMethod],
    ['x-forwarded-host', h.forwardedHost],
    ['x-forwarded-for', h.forwardedFor],
    ['referer', h.referer],
    ['origin', h.origin],
    ['x-tokenbox-user', h.tokenboxUser],
    ['x-tokenbox-usage', h.tokenboxUsage],
    ['x-tokenbox-app-id', h.appId],
    ['idempotency-key', h.idempotencyKey],
  ];
  for (const [name, value] of named) if (value !== undefined && headers[name] === undefined) headers[name] = headerSafe(value);

  const bytes = renderBody(body, tokenAt);
  const url = `${path}${query.length ? `?${query.join('&')}` : ''}${fragment ?? ''}`;
  const real = [...used].map((i) => (r.pool[i] as TokenText).real).filter((t): t is SeededToken => t !== null);
  return new HostileRequest(focus, method, url, headers, bytes, [...new Set(real)], template.target);
}

export { ROUTES };
