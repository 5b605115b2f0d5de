/**
 * One table of verification verdicts (SPEC §5), shared by the verifier tests and the forward-auth
 * parity tests: every row is a token string (or none), the request's scope, referrer, origin and
 * app id, and the verdict SPEC §5 prescribes. Rows come in the SPEC's verdict order.
 *
 * The world behind the table is built through the same services the API uses, with a test clock:
 * a deleted pk, a tk whose parent sk was deleted, a tk that has expired (the clock moves past it),
 * and pk tokens with URL and app restrictions.
 */
import assert from 'node:assert/strict';
import type { VerifyRequest } from '../../src/verification/verifier.js';
import { startTestApp, type TestApp } from './app.js';

export const PUBLIC_SCOPE = 'styles:tiles';
export const SECRET_SCOPE = 'map:read';
export const ALLOWED_SITE = 'https://maps.example.com';
export const ALLOWED_APP = 'com.example.maps';

const NO_TOKEN = { ok: false, code: 'no_token', status: 401, message: 'Not Authorized - No Token' } as const;
const INVALID = { ok: false, code: 'invalid_token', status: 401, message: 'Not Authorized - Invalid Token' } as const;
const FORBIDDEN = { ok: false, code: 'forbidden', status: 403, message: 'Forbidden' } as const;

export type ExpectedVerdict =
  | { readonly ok: true; readonly user: string; readonly tokenId: string; readonly usage: 'pk' | 'sk' | 'tk'; readonly scopes: readonly string[] }
  | { readonly ok: false; readonly code: string; readonly status: number; readonly message: string };

/** A row as written: its token and expectation are drawn from a world's tokens. */
export interface VerdictRowSpec {
  readonly name: string;
  /** The presented token; undefined: none at all. */
  readonly token: (k: VerdictTokens) => string | undefined;
  /** Every row names a scope: forward auth needs one (without, it fails closed). */
  readonly request: VerifyRequest & { readonly scope: string };
  readonly expect: ExpectedVerdict | ((k: VerdictTokens) => ExpectedVerdict);
  /** Forward auth sends this token in `Authorization: Bearer` (too long for an 8 KiB original URI). */
  readonly viaBearer?: boolean;
}

/** A row resolved against one world. */
export interface VerdictRow {
  readonly name: string;
  readonly token: string | undefined;
  readonly request: VerifyRequest & { readonly scope: string };
  readonly expect: ExpectedVerdict;
  readonly viaBearer: boolean;
}

export function resolveRow(spec: VerdictRowSpec, k: VerdictTokens): VerdictRow {
  return {
    name: spec.name,
    token: spec.token(k),
    request: spec.request,
    expect: typeof spec.expect === 'function' ? spec.expect(k) : spec.expect,
    viaBearer: spec.viaBearer === true,
  };
}

export function missingScope(scope: string): ExpectedVerdict {
  return { ok: false, code: 'missing_scope', status: 403, message: `This endpoint requires a token with ${scope} scope` };
}

/** `<usage>.<payload>.<secret>` split at its dots. */
export function parts(token: string): [string, string, string] {
  const [usage, payload, secret] = token.split('.');
  return [usage as string, payload as string, secret as string];
}

/** The same token with one character of its secret (a pk/sk secret, a tk MAC) changed. */
export function forge(token: string): string {
  const [usage, payload, secret] = parts(token);
  return `${usage}.${payload}.${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
}

export interface VerdictTokens {
  /** alice's default public token: every public scope. */
  readonly defaultPk: { token: string; id: string; scopes: string[] };
  /** bob's default public token. */
  readonly bobPk: { token: string; id: string; scopes: string[] };
  /** alice's sk: the secret scope, a public one, and tokens:write to mint tks. */
  readonly sk: { token: string; id: string; scopes: string[] };
  /** A live tk minted by `sk`, holding only the public scope. */
  readonly tk: string;
  /** A tk minted by `sk` whose lifetime the clock has moved past. */
  readonly expiredTk: string;
  /** A pk deleted through the tokens service. */
  readonly deletedPk: string;
  /** A tk minted by an sk that was then deleted. */
  readonly orphanTk: string;
  /** The id of that deleted sk. */
  readonly orphanParentId: string;
  readonly urlPk: { token: string; id: string };
  readonly appPk: { token: string; id: string };
  readonly bothPk: { token: string; id: string };
}

export interface VerdictWorld {
  readonly t: TestApp;
  readonly tokens: VerdictTokens;
  /** Every row of VERDICT_ROWS, resolved against this world. */
  readonly rows: readonly VerdictRow[];
  /** One row by name. */
  row(name: string): VerdictRow;
}

/** Mints a tk through the API (`POST /tokens/v2/{user}` with `expires`), authorized by `sk`. */
export async function mintTk(t: TestApp, sk: string, scopes: readonly string[], lifetimeMs: number, user = 'alice'): Promise<string> {
  const expires = new Date(t.clock() + lifetimeMs).toISOString();
  const res = await t.server.inject({ method: 'POST', url: `/tokens/v2/${user}`, headers: { authorization: `Bearer ${sk}` }, payload: { expires, scopes } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ token: string }>().token;
}

async function createToken(
  t: TestApp,
  scopes: string[],
  extra: { allowedUrls?: string[]; allowedApplications?: { platform: string; bundleId: string }[] } = {},
): Promise<{ token: string; id: string; scopes: string[] }> {
  const created = await t.app.tokens.create(await t.app.access.operator('alice'), { scopes, ...extra });
  assert.ok(created.token);
  return { token: created.token, id: created.id, scopes: created.scopes };
}

async function deleteToken(t: TestApp, id: string): Promise<void> {
  await t.app.tokens.delete(await t.app.access.operator('alice'), id);
}

export async function verdictTokens(t: TestApp): Promise<VerdictTokens> {
  const alice = await t.account('alice');
  const bob = await t.account('bob');
  const sk = await createToken(t, [SECRET_SCOPE, PUBLIC_SCOPE, 'tokens:write']);
  const tk = await mintTk(t, sk.token, [PUBLIC_SCOPE], 30 * 60_000);
  const expiredTk = await mintTk(t, sk.token, [PUBLIC_SCOPE], 60_000);
  const deleted = await createToken(t, [PUBLIC_SCOPE]);
  const doomedSk = await createToken(t, [SECRET_SCOPE, PUBLIC_SCOPE, 'tokens:write']);
  const orphanTk = await mintTk(t, doomedSk.token, [PUBLIC_SCOPE], 30 * 60_000);
  const urlPk = await createToken(t, [PUBLIC_SCOPE], { allowedUrls: [ALLOWED_SITE] });
  const appPk = await createToken(t, [PUBLIC_SCOPE], { allowedApplications: [{ platform: 'ios', bundleId: ALLOWED_APP }] });
  const bothPk = await createToken(t, [PUBLIC_SCOPE], {
    allowedUrls: [ALLOWED_SITE],
    allowedApplications: [{ platform: 'ios', bundleId: ALLOWED_APP }],
  });
  await deleteToken(t, deleted.id);
  await deleteToken(t, doomedSk.id);
  // Two minutes on: the one-minute tk has expired, the half-hour ones have not.
  t.clock.advance(120_000);
  assert.ok(alice.token && bob.token);
  return {
    defaultPk: { token: alice.token, id: alice.id, scopes: alice.scopes },
    bobPk: { token: bob.token, id: bob.id, scopes: bob.scopes },
    sk,
    tk,
    expiredTk,
    deletedPk: deleted.token,
    orphanTk,
    orphanParentId: doomedSk.id,
    urlPk,
    appPk,
    bothPk,
  };
}

const okPk = (token: { id: string }, scopes: readonly string[] = [PUBLIC_SCOPE]): ExpectedVerdict => ({
  ok: true,
  user: 'alice',
  tokenId: token.id,
  usage: 'pk',
  scopes,
});
const S = PUBLIC_SCOPE;
const pkPayload = (k: VerdictTokens): string => parts(k.defaultPk.token)[1];
const pkSecret = (k: VerdictTokens): string => parts(k.defaultPk.token)[2];

/** The rows, in SPEC verdict order; tokens and expectations are drawn from a world's tokens. */
export const VERDICT_ROWS: readonly VerdictRowSpec[] = [
  // 401 Not Authorized - No Token
  { name: 'no token at all', token: () => undefined, request: { scope: S }, expect: NO_TOKEN },
  { name: 'an empty token', token: () => '', request: { scope: S }, expect: NO_TOKEN },
  // 401 Not Authorized - Invalid Token: malformed
  { name: 'malformed: four dot-separated parts', token: (k) => `pk.${pkPayload(k)}.${pkPayload(k)}.${pkSecret(k)}`, request: { scope: S }, expect: INVALID },
  { name: 'malformed: 10 KB long', token: (k) => `pk.${'A'.repeat(10 * 1024)}.${pkSecret(k)}`, request: { scope: S }, expect: INVALID, viaBearer: true },
  { name: 'malformed: payload is not base64', token: (k) => `pk.eyJ1Ijoi*!~.${pkSecret(k)}`, request: { scope: S }, expect: INVALID },
  { name: 'malformed: secret one character short', token: (k) => `pk.${pkPayload(k)}.${pkSecret(k).slice(1)}`, request: { scope: S }, expect: INVALID },
  // forged
  { name: 'forged pk secret', token: (k) => forge(k.defaultPk.token), request: { scope: S }, expect: INVALID },
  { name: 'forged sk secret', token: (k) => forge(k.sk.token), request: { scope: SECRET_SCOPE }, expect: INVALID },
  { name: 'forged tk MAC', token: (k) => forge(k.tk), request: { scope: S }, expect: INVALID },
  // expired, revoked
  { name: 'expired tk (the clock moved past exp)', token: (k) => k.expiredTk, request: { scope: S }, expect: INVALID },
  { name: 'deleted pk (revoked)', token: (k) => k.deletedPk, request: { scope: S }, expect: INVALID },
  { name: 'tk whose parent sk was deleted', token: (k) => k.orphanTk, request: { scope: S }, expect: INVALID },
  {
    name: 'order: a forged token that would also miss the scope is 401',
    token: (k) => forge(k.defaultPk.token),
    request: { scope: SECRET_SCOPE },
    expect: INVALID,
  },
  { name: 'order: a forged URL-restricted token without a referrer is 401', token: (k) => forge(k.urlPk.token), request: { scope: S }, expect: INVALID },
  // 403 Forbidden: URL restriction
  { name: 'URL restriction: no Referer, no Origin', token: (k) => k.urlPk.token, request: { scope: S }, expect: FORBIDDEN },
  {
    name: 'URL restriction: Referer of another site',
    token: (k) => k.urlPk.token,
    request: { scope: S, referrer: 'https://evil.example.net/page' },
    expect: FORBIDDEN,
  },
  {
    name: 'URL restriction: Referer on a look-alike host',
    token: (k) => k.urlPk.token,
    request: { scope: S, referrer: 'https://maps.example.com.evil.test/' },
    expect: FORBIDDEN,
  },
  { name: 'URL restriction: Origin: null', token: (k) => k.urlPk.token, request: { scope: S, origin: 'null' }, expect: FORBIDDEN },
  {
    name: 'URL restriction: Referer wrong, Origin right (Referer decides)',
    token: (k) => k.urlPk.token,
    request: { scope: S, referrer: 'https://evil.example.net/', origin: ALLOWED_SITE },
    expect: FORBIDDEN,
  },
  { name: 'URL restriction: an app id does not stand in for a URL', token: (k) => k.urlPk.token, request: { scope: S, appId: ALLOWED_APP }, expect: FORBIDDEN },
  {
    name: 'order: restriction not met and scope missing is Forbidden',
    token: (k) => k.urlPk.token,
    request: { scope: SECRET_SCOPE, referrer: 'https://evil.example.net/' },
    expect: FORBIDDEN,
  },
  {
    name: 'URL restriction met by Referer',
    token: (k) => k.urlPk.token,
    request: { scope: S, referrer: `${ALLOWED_SITE}/app/page?x=1` },
    expect: (k) => okPk(k.urlPk),
  },
  {
    name: 'URL restriction met by Origin (no Referer)',
    token: (k) => k.urlPk.token,
    request: { scope: S, origin: ALLOWED_SITE },
    expect: (k) => okPk(k.urlPk),
  },
  // 403 Forbidden: app restriction
  { name: 'app restriction: no app id', token: (k) => k.appPk.token, request: { scope: S }, expect: FORBIDDEN },
  { name: 'app restriction: another app id', token: (k) => k.appPk.token, request: { scope: S, appId: 'com.example.other' }, expect: FORBIDDEN },
  {
    name: 'app restriction: a Referer does not stand in for an app',
    token: (k) => k.appPk.token,
    request: { scope: S, referrer: `${ALLOWED_SITE}/` },
    expect: FORBIDDEN,
  },
  { name: 'app restriction met', token: (k) => k.appPk.token, request: { scope: S, appId: ALLOWED_APP }, expect: (k) => okPk(k.appPk) },
  // both kinds set: either passes
  {
    name: 'both restrictions: neither met',
    token: (k) => k.bothPk.token,
    request: { scope: S, referrer: 'https://evil.example.net/', appId: 'com.example.other' },
    expect: FORBIDDEN,
  },
  {
    name: 'both restrictions: only the URL met',
    token: (k) => k.bothPk.token,
    request: { scope: S, referrer: `${ALLOWED_SITE}/`, appId: 'com.example.other' },
    expect: (k) => okPk(k.bothPk),
  },
  {
    name: 'both restrictions: only the app met',
    token: (k) => k.bothPk.token,
    request: { scope: S, referrer: 'https://evil.example.net/', appId: ALLOWED_APP },
    expect: (k) => okPk(k.bothPk),
  },
  // 403 scope missing
  {
    name: 'scope missing: the default pk and a secret scope',
    token: (k) => k.defaultPk.token,
    request: { scope: SECRET_SCOPE },
    expect: missingScope(SECRET_SCOPE),
  },
  { name: 'scope missing: a tk lacks a scope its parent holds', token: (k) => k.tk, request: { scope: SECRET_SCOPE }, expect: missingScope(SECRET_SCOPE) },
  {
    name: 'scope missing: a scope outside the catalog, which no token holds',
    token: (k) => k.sk.token,
    request: { scope: 'geocode:read' },
    expect: missingScope('geocode:read'),
  },
  // passes
  {
    name: 'pass: the default pk with a public scope',
    token: (k) => k.defaultPk.token,
    request: { scope: S },
    expect: (k) => okPk(k.defaultPk, k.defaultPk.scopes),
  },
  {
    name: 'pass: an sk with its secret scope',
    token: (k) => k.sk.token,
    request: { scope: SECRET_SCOPE },
    expect: (k) => ({ ok: true, user: 'alice', tokenId: k.sk.id, usage: 'sk', scopes: k.sk.scopes }),
  },
  {
    name: 'pass: a tk speaks for its parent p',
    token: (k) => k.tk,
    request: { scope: S },
    expect: (k) => ({ ok: true, user: 'alice', tokenId: k.sk.id, usage: 'tk', scopes: [S] }),
  },
  {
    name: "pass: bob's default pk is bob",
    token: (k) => k.bobPk.token,
    request: { scope: S },
    expect: (k) => ({ ok: true, user: 'bob', tokenId: k.bobPk.id, usage: 'pk', scopes: k.bobPk.scopes }),
  },
];

/** A fresh app (temp SQLite file, test clock) holding the table's tokens. */
export async function verdictWorld(overrides: Record<string, unknown> = {}): Promise<VerdictWorld> {
  const t = await startTestApp(overrides);
  try {
    const tokens = await verdictTokens(t);
    const rows = VERDICT_ROWS.map((spec) => resolveRow(spec, tokens));
    return {
      t,
      tokens,
      rows,
      row(name) {
        const found = rows.find((r) => r.name === name);
        if (!found) throw new Error(`no verdict row named ${name}`);
        return found;
      },
    };
  } catch (error) {
    await t.close();
    throw error;
  }
}
