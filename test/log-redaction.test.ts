/**
 * Logs never hold a token (SPEC §7), attacked: the server is built with its production logger
 * (`buildServer`'s default options) writing to a stream this test reads, and every request below
 * puts a real token somewhere tokenbox does not read it — or reads it and fails — in a spelling
 * meant to slip past a redactor. No line may hold a token-shaped string or any token's secret,
 * as written or after up to four rounds of percent-decoding.
 *
 * Each attack below was logged verbatim before `src/http/redact.ts`. A seeded property test then
 * tries random encodings and placements (the seed is printed on failure), and hostile 100 KB URLs
 * check that redaction stays linear.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { redactUrl } from '../src/http/redact.js';
import { buildServer } from '../src/http/server.js';
import { PUBLIC_SCOPE, verdictWorld, type VerdictWorld } from './helpers/verdict-world.js';
import { rawExchange } from './helpers/raw-http.js';

const SEED = 20261128;
const TOKEN_SHAPE = /[pst]k\.[A-Za-z0-9+/=_-]+\.[A-Za-z0-9_-]{16}/i;

/** Every byte escaped: `%70%6B%2E…`. */
function escapeAll(text: string, upper = true): string {
  return [...text]
    .map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .map((e) => (upper ? e.toUpperCase() : e))
    .join('');
}

/** Lenient percent-decoding, byte by byte, invalid escapes kept (a log reader's view). */
function decodeRounds(text: string): string[] {
  const out = [text];
  let current = text;
  for (let i = 0; i < 4 && current.includes('%'); i++) {
    current = current.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    out.push(current);
  }
  return out;
}

describe('logs never hold a token: the production logger under attack', () => {
  let w: VerdictWorld;
  let server: FastifyInstance;
  let port: number;
  const lines: string[] = [];

  before(async () => {
    w = await verdictWorld({ routes: [{ path: '/public/*', scope: PUBLIC_SCOPE }] });
    server = buildServer(w.t.app, { logDestination: { write: (line: string) => lines.push(line) } });
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    port = Number(new URL(address).port);
  });
  after(async () => {
    await server?.close();
    await w?.t.close();
  });

  function tokens(): string[] {
    const k = w.tokens;
    return [k.defaultPk.token, k.sk.token, k.tk, k.urlPk.token, k.bobPk.token];
  }

  /** Asserts no captured line holds a token shape or a secret, in any decoding; then clears them. */
  function assertClean(context: string): void {
    const secrets = tokens().map((t) => t.split('.')[2] as string);
    for (const line of lines) {
      for (const view of decodeRounds(line)) {
        assert.ok(!TOKEN_SHAPE.test(view), `${context}: a token-shaped string is logged:\n${line}`);
        for (const secret of secrets) assert.ok(!view.includes(secret), `${context}: a secret is logged:\n${line}`);
      }
    }
    lines.length = 0;
  }

  async function send(request: InjectOptions, context: string): Promise<void> {
    const res = await server.inject(request);
    assert.ok(res.statusCode < 500, `${context}: ${res.statusCode} ${res.body}`);
  }

  const ATTACKS: ReadonlyArray<[attack: string, url: (sk: string, pk: string) => string]> = [
    ['attack: ;access_token= (a ; separator tokenbox does not split on)', (sk) => `/tokens/v2/alice?a=1;access_token=${sk}`],
    ['attack: ;access_token= as a path parameter', (sk) => `/tokens/v2/alice;access_token=${sk}`],
    ['attack: access_token+= (a space before the =)', (sk) => `/nowhere?access_token+=${sk}`],
    ['attack: +access_token+= and %20 around the name', (sk) => `/nowhere?x=1&+access_token%20=${sk}`],
    ['attack: %3Faccess_token= (an encoded ? as the separator)', (sk) => `/nowhere%3Faccess_token=${sk}`],
    ['attack: %26access_token%3D (encoded & and =)', (sk) => `/nowhere?x=1%26access_token%3D${sk}`],
    ['attack: ACCESS%5FTOKEN (case and an encoded name)', (sk) => `/scopes/v1/alice?ACCESS%5FTOKEN=${sk}`],
    ['attack: a token as a path segment', (sk) => `/tokens/v2/${sk}`],
    ['attack: a token as a deeper path segment', (_sk, pk) => `/nowhere/${pk}/x.png`],
    ['attack: a token in the fragment', (sk) => `/nowhere#${sk}`],
    ['attack: a token with encoded dots (pk%2EeyJ…)', (sk) => `/nowhere/${sk.replace(/\./g, '%2E')}`],
    ['attack: a token with lower-case encoded dots', (sk) => `/nowhere?q=${sk.replace(/\./g, '%2e')}`],
    ['attack: a token with every byte encoded', (sk) => `/nowhere/${escapeAll(sk)}`],
    ['attack: a token encoded twice', (sk) => `/nowhere/${escapeAll(escapeAll(sk), false)}`],
    ['attack: an upper-case prefix (SK.…)', (sk) => `/nowhere/${sk.replace(/^sk/, 'SK')}`],
    ['attack: a token glued to other text', (sk) => `/nowhere/abc${sk}def`],
    ['attack: an undecodable path (frameworkErrors) with a token', (sk) => `/tokens/v2/alice/%zz?access_token=${sk}&x=${sk}`],
    ['attack: a path segment over maxParamLength (frameworkErrors) with a token', (sk) => `/tokens/v2/${'a'.repeat(600)}${sk}?x=${sk}`],
    ['attack: an invalid escape in the query next to a token', (sk) => `/tokens/v2/alice?q=%G1&access_token=${sk}`],
    ['attack: forward auth (Envoy) with a token in the path, refused', (_sk, pk) => `/auth/v1/check/nowhere/${pk}`],
    ['attack: forward auth (Envoy) with an undecodable path', (_sk, pk) => `/auth/v1/check/public/%zz?access_token=${pk}`],
  ];

  for (const [attack, url] of ATTACKS) {
    it(attack, async () => {
      lines.length = 0;
      const target = url(w.tokens.sk.token, w.tokens.defaultPk.token);
      await send({ method: 'GET', url: target }, attack);
      await send({ method: 'POST', url: target, headers: { 'content-type': 'application/json' }, payload: '{bad' }, attack);
      assertClean(attack);
    });
  }

  it('the request URL in API log lines is the redacted one (the req serializer is in use)', async () => {
    lines.length = 0;
    await send({ method: 'GET', url: `/tokens/v2/alice?access_token=${encodeURIComponent(w.tokens.sk.token)}` }, 'list');
    const logged = lines.join('');
    assert.match(logged, /"url":"\/tokens\/v2\/alice\?access_token=\[redacted\]"/);
    assertClean('list');
  });

  it('attack: X-Original-URI / X-Forwarded-Uri holding tokens, on refusals and proxy errors', async () => {
    lines.length = 0;
    const pk = w.tokens.defaultPk.token;
    const uris = [`/public/x?access_token=${pk}`, `/public/${pk}`, `/public/%zz?access_token=${pk}`, `/private/x?access_token=${pk}`, `http://evil/${pk}`];
    for (const uri of uris) {
      await send({ method: 'GET', url: '/auth/v1/check', headers: { 'x-original-uri': uri } }, uri);
      await send({ method: 'GET', url: '/auth/v1/check', headers: { 'x-forwarded-uri': uri, 'x-forwarded-method': 'GET' } }, uri);
      await send({ method: 'GET', url: '/auth/v1/check', headers: { 'x-original-uri': uri, 'x-forwarded-uri': uri } }, uri);
    }
    assertClean('forward-auth headers');
  });

  it('attack: requests Node itself refuses (bad header, bad request line) with a token in the URL', async () => {
    lines.length = 0;
    const sk = w.tokens.sk.token;
    for (const bytes of [
      `GET /tokens/v2/alice?access_token=${sk} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n`,
      `GET /tokens/v2/alice?access_token=${sk}\u0000 HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /${sk} HTTP/9.9\r\nHost: x\r\n\r\n`,
    ]) {
      await rawExchange(port, bytes);
    }
    assertClean('client errors');
  });

  it(`random encodings and placements of real tokens are never logged (fast-check, seed ${SEED})`, async () => {
    const encodedChar = (c: string) =>
      fc.constantFrom(
        c,
        `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
        `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
        `%25${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
      );
    const spelled = (token: string) => fc.tuple(...[...token].map(encodedChar)).map((chars) => chars.join(''));
    const placement = fc.constantFrom(
      (t: string) => `/tokens/v2/alice?access_token=${t}`,
      (t: string) => `/tokens/v2/alice?x=1;access_token=${t}`,
      (t: string) => `/nowhere?access_token+=${t}`,
      (t: string) => `/nowhere%3Faccess_token%3D${t}`,
      (t: string) => `/nowhere/${t}`,
      (t: string) => `/nowhere/x${t}y`,
      (t: string) => `/tokens/v2?q=${t}`,
      (t: string) => `/tokens/v2/alice/%zz/${t}`,
      (t: string) => `/auth/v1/check/nowhere/${t}`,
    );
    const prefixCase = fc.constantFrom(
      (t: string) => t,
      (t: string) => t.slice(0, 2).toUpperCase() + t.slice(2),
      (t: string) => t[0]?.toUpperCase() + t.slice(1),
    );
    const which = fc.integer({ min: 0, max: tokens().length - 1 });
    try {
      await fc.assert(
        fc.asyncProperty(
          which.chain((i) => fc.tuple(prefixCase, placement).chain(([cased, place]) => spelled(cased(tokens()[i] as string)).map((t) => place(t)))),
          async (url) => {
            lines.length = 0;
            await send({ method: 'GET', url }, url);
            assertClean(url);
          },
        ),
        { seed: SEED, numRuns: 300 },
      );
    } catch (error) {
      throw new Error(`log redaction property failed with seed ${SEED}: ${(error as Error).message}`, { cause: error });
    }
  });
});

describe('logs never hold an admin key (SPEC §10)', () => {
  const KEY = `tba_${'Zq9'.repeat(14)}`;
  const SECRET = KEY.slice(4);
  const PLACEMENTS: ReadonlyArray<[string, string]> = [
    ['in ?access_token= (refused there)', `/admin/v1/accounts?access_token=${KEY}`],
    ['in another parameter', `/admin/v1/accounts?key=${KEY}&x=1`],
    ['as a path segment', `/admin/v1/accounts/${KEY}`],
    ['glued to other text', `/x/abc${KEY}def`],
    ['with an upper-case prefix', `/x/${KEY.replace('tba_', 'TBA_')}`],
    ['with an encoded underscore', `/x/${KEY.replace('_', '%5F')}`],
    ['with every byte encoded', `/x/${escapeAll(KEY)}`],
    ['encoded twice', `/x/${escapeAll(escapeAll(KEY), false)}`],
    ['in the fragment', `/x#${KEY}`],
  ];
  for (const [name, url] of PLACEMENTS) {
    it(`an admin key ${name} is redacted`, () => {
      for (const view of decodeRounds(redactUrl(url))) assert.ok(!view.includes(SECRET), `${name}: ${redactUrl(url)}`);
    });
  }

  it('a short tba_ word is left alone (no key is under 32 characters)', () => {
    assert.equal(redactUrl('/docs/tba_notes'), '/docs/tba_notes');
  });

  it('a key in a URL the server logs is redacted in the line (the production logger)', async () => {
    const lines: string[] = [];
    const w = await verdictWorld({ routes: [{ path: '/public/*', scope: PUBLIC_SCOPE }] });
    const server = buildServer(w.t.app, { logDestination: { write: (line: string) => lines.push(line) } });
    try {
      const { key } = await w.t.app.adminKeys.create('logged?');
      for (const [, url] of PLACEMENTS) await server.inject({ method: 'GET', url: url.replaceAll(KEY, key) });
      assert.ok(lines.length > 0);
      for (const line of lines) for (const view of decodeRounds(line)) assert.ok(!view.includes(key.slice(4)), `an admin key is logged:\n${line}`);
    } finally {
      await server.close();
      await w.t.close();
    }
  });
});

describe('redaction stays linear on hostile 100 KB URLs', () => {
  const HOSTILE: ReadonlyArray<[string, string]> = [
    ['repeated prefixes', `/x/${'pk.'.repeat(34_000)}`],
    ['repeated almost-tokens', `/x/${`pk.a.${'b'.repeat(15)}`.repeat(5_000)}`],
    ['deep %25 nesting', `/x/${'%25'.repeat(33_000)}2e`],
    ['access_token names without =', `/x?${'access_token+'.repeat(7_500)}`],
    ['access_token= runs', `/x?${'access_token='.repeat(7_500)}`],
    ['k. and = everywhere', `/x?${'k.='.repeat(33_000)}`],
    ['escaped bytes', `/x/${escapeAll('pk.'.repeat(11_000))}`],
  ];
  for (const [name, url] of HOSTILE) {
    it(`${name} (${Math.round(url.length / 1024)} KB)`, () => {
      const started = performance.now();
      redactUrl(url);
      const ms = performance.now() - started;
      // Linear redaction takes a few ms; a quadratic one takes seconds at this size.
      assert.ok(ms < 500, `${name}: ${ms.toFixed(0)} ms`);
    });
  }
});
