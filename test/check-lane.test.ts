/**
 * Forward auth's fast lane (src/http/check-lane.ts) answers a check straight from Node's request;
 * Fastify's routes answer the rest, and every check made through `inject`. The lane must change
 * the way in and nothing else: each request here goes both ways, over a real socket to the
 * listening server and through `inject`, and the two answers must be the same status, headers
 * (all but `Date` and the connection's own) and body. The suite also asserts which way took the
 * socket's request, so a lane that stopped taking checks (or took what it must not) fails here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance, InjectOptions } from 'fastify';
import { checkLane } from '../src/http/check-lane.js';
import type { ForwardAuthCheck } from '../src/http/routes/forward-auth.js';
import { buildServer } from '../src/http/server.js';
import { checkRequest, ROUTES, rowCheck, STYLES } from './helpers/check-requests.js';
import { rawExchange } from './helpers/raw-http.js';
import { PUBLIC_SCOPE, VERDICT_ROWS, verdictWorld, type VerdictWorld } from './helpers/verdict-world.js';

/** Headers that describe the connection or the moment, not the answer. */
const CONNECTION_HEADERS = new Set(['date', 'connection', 'keep-alive']);

interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The request bytes for `options`, as a proxy would send them (one request, then close). */
function requestBytes(options: InjectOptions): string {
  const method = options.method ?? 'GET';
  const given = options.payload;
  assert.ok(given === undefined || typeof given === 'string' || Buffer.isBuffer(given), 'a string or Buffer payload');
  const payload = given === undefined ? '' : Buffer.isBuffer(given) ? given.toString('latin1') : given;
  const lines = [`${method} ${options.url as string} HTTP/1.1`, 'host: tokenbox.test', 'connection: close'];
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(one)}`);
  }
  if (payload !== '') lines.push(`content-length: ${Buffer.byteLength(payload, 'latin1')}`);
  return `${lines.join('\r\n')}\r\n\r\n${payload}`;
}

async function listen(server: FastifyInstance): Promise<number> {
  return Number(new URL(await server.listen({ port: 0, host: '127.0.0.1' })).port);
}

function parseResponse(raw: string): Answer {
  const end = raw.indexOf('\r\n\r\n');
  assert.notEqual(end, -1, `a whole response: ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    if (!CONNECTION_HEADERS.has(name)) headers[name] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine as string)?.[1]), headers, body: raw.slice(end + 4) };
}

describe('the fast lane answers exactly as the Fastify routes do', () => {
  let w: VerdictWorld;
  let server: FastifyInstance;
  let port: number;
  /** Requests Fastify saw (the lane's never reach it). */
  let fastifySaw = 0;
  before(async () => {
    w = await verdictWorld({ routes: ROUTES, tokenRateLimit: 1_000_000 });
    server = buildServer(w.t.app, { logger: false });
    server.addHook('onRequest', (_request, _reply, done) => {
      fastifySaw += 1;
      done();
    });
    port = await listen(server);
  });
  after(async () => {
    await server?.close();
    await w?.t.close();
  });

  /** Both ways, compared; returns the answer and which way the socket's request took. */
  async function bothWays(options: InjectOptions, context: string): Promise<{ answer: Answer; lane: boolean }> {
    const before = fastifySaw;
    const raw = parseResponse(await rawExchange(port, requestBytes(options)));
    const lane = fastifySaw === before;
    const injected = await server.inject(options);
    const expected: Answer = {
      status: injected.statusCode,
      headers: Object.fromEntries(
        Object.entries(injected.headers)
          .filter(([name]) => !CONNECTION_HEADERS.has(name))
          .map(([name, value]) => [name, String(value)]),
      ),
      body: options.method === 'HEAD' ? '' : injected.body,
    };
    assert.deepEqual(raw, expected, `${context}: the socket's answer (${lane ? 'fast lane' : 'Fastify'}) and inject's differ`);
    return { answer: raw, lane };
  }

  for (const style of STYLES) {
    it(`${style}: every verdict row (passes, each refusal) the same both ways, all through the lane`, async () => {
      for (const spec of VERDICT_ROWS) {
        const { lane } = await bothWays(checkRequest(style, rowCheck(style, w.row(spec.name))), `${style} ${spec.name}`);
        assert.equal(lane, true, `${style} ${spec.name}: the lane took it`);
      }
    });
  }

  const pk = (): string => w.tokens.defaultPk.token;
  /** `lane`: whether the lane takes it (null: not observable here). */
  const cases: ReadonlyArray<{ name: string; lane: boolean | null; options: () => InjectOptions }> = [
    { name: 'HEAD', lane: true, options: () => checkRequest('nginx', { method: 'HEAD', path: '/tiles/1', token: pk(), scopeParam: PUBLIC_SCOPE }) },
    { name: 'HEAD refused', lane: true, options: () => ({ ...checkRequest('nginx', { path: '/tiles/1', scopeParam: PUBLIC_SCOPE }), method: 'HEAD' }) },
    {
      name: 'a POST with a body that is not JSON',
      lane: true,
      options: () => checkRequest('envoy', { method: 'POST', path: '/any/x', token: pk(), payload: '{not json', contentType: 'application/json' }),
    },
    { name: 'PROPFIND (a method Fastify was taught)', lane: true, options: () => checkRequest('envoy', { method: 'PROPFIND', path: '/dav/x', token: pk() }) },
    { name: 'OPTIONS is a check, not a preflight', lane: true, options: () => checkRequest('envoy', { method: 'OPTIONS', path: '/any/x', token: pk() }) },
    { name: 'no original URI', lane: true, options: () => ({ method: 'GET', url: '/auth/v1/check' }) },
    {
      name: 'two sources (nginx header and an Envoy path)',
      lane: true,
      options: () => ({ method: 'GET', url: '/auth/v1/check/any/x', headers: { 'x-original-uri': `/any/x?access_token=${pk()}` } }),
    },
    {
      name: 'the X-Original-URI header twice',
      lane: true,
      options: () => ({ method: 'GET', url: `/auth/v1/check?scope=${PUBLIC_SCOPE}`, headers: { 'x-original-uri': [`/a?access_token=${pk()}`, '/b'] } }),
    },
    { name: 'scope given twice', lane: true, options: () => checkRequest('nginx', { path: '/x', token: pk(), scopeParam: [PUBLIC_SCOPE, PUBLIC_SCOPE] }) },
    { name: 'a scope that is not one', lane: true, options: () => checkRequest('traefik', { path: '/x', token: pk(), scopeParam: 'no such scope' }) },
    { name: 'Envoy: the bare prefix and a slash', lane: true, options: () => ({ method: 'GET', url: '/auth/v1/check/' }) },
    { name: 'Envoy: dot segments', lane: true, options: () => checkRequest('envoy', { path: '/public/../private/x', token: pk() }) },
    {
      name: 'Envoy: a scheme-relative path (//host/…)',
      lane: true,
      options: () => ({ method: 'GET', url: `/auth/v1/check//evil.example/any/x?access_token=${pk()}` }),
    },
    { name: 'Envoy: a path over 8 KiB', lane: true, options: () => ({ method: 'GET', url: `/auth/v1/check/any/${'a'.repeat(9000)}?access_token=${pk()}` }) },
    {
      name: 'an empty auth query',
      lane: true,
      options: () => ({ method: 'GET', url: '/auth/v1/check?', headers: { 'x-original-uri': `/any/x?access_token=${pk()}` } }),
    },
    {
      name: 'Envoy: an encoded dot segment (left to Fastify)',
      lane: false,
      options: () => checkRequest('envoy', { path: '/public/%2e%2e/private/x', token: pk() }),
    },
    // Fastify answers this one from its router's error handler, before any hook: no way is seen.
    { name: 'Envoy: an escape that does not decode (left to Fastify)', lane: null, options: () => checkRequest('envoy', { path: '/any/%zz', token: pk() }) },
    { name: 'Envoy: an encoded slash (left to Fastify)', lane: false, options: () => checkRequest('envoy', { path: '/any/a%2Fb', token: pk() }) },
    { name: 'a path that only starts like the prefix (404, Fastify)', lane: false, options: () => ({ method: 'GET', url: '/auth/v1/checkx' }) },
    { name: 'the prefix in upper case (404, Fastify)', lane: false, options: () => ({ method: 'GET', url: '/AUTH/v1/check' }) },
  ];
  for (const c of cases) {
    it(`${c.name}: the same both ways, ${c.lane === true ? 'through the lane' : 'through Fastify'}`, async () => {
      const { lane } = await bothWays(c.options(), c.name);
      if (c.lane !== null) assert.equal(lane, c.lane, `${c.name}: which way took it`);
    });
  }

  it('pipelined on one keep-alive connection: passes, refusals and HEADs come back whole, in order, as inject answers them', async () => {
    const refused = (): InjectOptions => checkRequest('nginx', { path: '/tiles/1', scopeParam: PUBLIC_SCOPE });
    const passes = (): InjectOptions => checkRequest('nginx', { path: '/tiles/1', token: pk(), scopeParam: PUBLIC_SCOPE });
    const sequence: InjectOptions[] = [
      refused(),
      passes(),
      refused(),
      refused(),
      { ...refused(), method: 'HEAD' },
      passes(),
      { ...passes(), method: 'HEAD' },
      refused(),
    ];
    // Every request but the last keeps the connection open; all go in one write.
    const bytes = sequence.map((options, i) =>
      i < sequence.length - 1 ? requestBytes(options).replace('connection: close', 'connection: keep-alive') : requestBytes(options),
    );
    const before = fastifySaw;
    let raw = await rawExchange(port, bytes.join(''));
    assert.equal(fastifySaw, before, 'the lane took every request');
    for (const [i, options] of sequence.entries()) {
      const end = raw.indexOf('\r\n\r\n');
      assert.notEqual(end, -1, `response ${i}: a whole head`);
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(raw.slice(0, end))?.[1] ?? 0);
      const size = end + 4 + (options.method === 'HEAD' ? 0 : length);
      const answer = parseResponse(raw.slice(0, size));
      raw = raw.slice(size);
      const injected = await server.inject(options);
      assert.equal(answer.status, injected.statusCode, `response ${i}: status`);
      assert.equal(answer.body, options.method === 'HEAD' ? '' : injected.body, `response ${i}: body`);
      assert.equal(answer.headers['x-tokenbox-status'], injected.headers['x-tokenbox-status'], `response ${i}: X-Tokenbox-Status`);
    }
    assert.equal(raw, '', 'nothing after the last answer');
  });
});

describe('the fast lane: a 429 and a store that fails', () => {
  it('a token over its ceiling: the same 429 with Retry-After and X-Rate-Limit-* both ways', async () => {
    const w = await verdictWorld({ routes: ROUTES, tokenRateLimit: 1 });
    try {
      const port = await listen(w.t.server);
      const options = checkRequest('nginx', { path: '/x', token: w.tokens.defaultPk.token, scopeParam: PUBLIC_SCOPE });
      assert.equal((await w.t.server.inject(options)).statusCode, 200, 'the one request the ceiling allows');
      const injected = await w.t.server.inject(options);
      const raw = parseResponse(await rawExchange(port, requestBytes(options)));
      assert.equal(injected.statusCode, 429);
      assert.equal(raw.status, 429);
      for (const name of [
        'retry-after',
        'x-rate-limit-interval',
        'x-rate-limit-limit',
        'x-rate-limit-reset',
        'x-tokenbox-status',
        'x-tokenbox-message',
        'content-type',
      ]) {
        assert.equal(raw.headers[name], injected.headers[name], name);
      }
      assert.equal(raw.body, injected.body);
    } finally {
      await w.t.close();
    }
  });

  it('a check that needs the store while it cannot be read: the same 503 both ways, each logged once without the token', async () => {
    const w = await verdictWorld({ routes: ROUTES });
    const lines: string[] = [];
    const server = buildServer(w.t.app, { logDestination: { write: (line: string) => lines.push(line) } });
    try {
      const port = await listen(server);
      // A pk no cache holds yet: its check reads the store.
      const fresh = await w.t.token('alice', [PUBLIC_SCOPE]);
      const options = checkRequest('nginx', { path: '/x', token: fresh.token, scopeParam: PUBLIC_SCOPE });
      await w.t.app.store.close();
      const raw = parseResponse(await rawExchange(port, requestBytes(options)));
      const injected = await server.inject(options);
      assert.equal(raw.status, 503);
      assert.equal(injected.statusCode, 503);
      assert.equal(raw.headers['x-tokenbox-message'], 'Service Unavailable');
      assert.equal(raw.headers['x-tokenbox-message'], injected.headers['x-tokenbox-message']);
      assert.equal(raw.body, injected.body);
      const failures = lines.filter((line) => line.includes('forward auth failed'));
      assert.equal(failures.length, 2, 'one error line per way');
      assert.ok(!lines.some((line) => line.includes(fresh.token.split('.')[2] as string)), 'no line holds the token');
    } finally {
      await server.close();
      await w.t.close().catch(() => undefined);
    }
  });
});

describe('the fast lane alone, with a stand-in check (its failure paths)', () => {
  const failures: Array<{ readonly name: string; readonly check: ForwardAuthCheck }> = [
    {
      name: 'an answer Node cannot send (a control character in a header value)',
      check: () => ({ status: 200, headers: { 'x-tokenbox-user': 'a\nb' }, body: '' }),
    },
    {
      name: 'a check that throws',
      check: () => {
        throw new Error('boom');
      },
    },
    { name: 'a check that rejects', check: () => Promise.reject(new Error('boom')) },
    {
      name: 'a check that resolves to an answer Node cannot send',
      check: () => Promise.resolve({ status: 200, headers: { 'x-tokenbox-user': 'a\rb' }, body: '' }),
    },
  ];
  for (const { name, check } of failures) {
    it(`${name}: 500 with the proxy headers, logged once, and the server still answers`, async () => {
      const logged: unknown[] = [];
      const log = { error: (...args: unknown[]) => logged.push(args) } as unknown as FastifyBaseLogger;
      const lane = checkLane(check, () => log);
      const server = createServer((req, res) => {
        if (!lane(req, res)) res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        for (let i = 0; i < 2; i++) {
          const answer = parseResponse(await rawExchange(port, 'GET /auth/v1/check HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
          assert.equal(answer.status, 500);
          assert.equal(answer.headers['x-tokenbox-status'], '500');
          assert.equal(answer.body, JSON.stringify({ message: answer.headers['x-tokenbox-message'] }));
        }
        assert.equal(logged.length, 2, 'one error line per failed check');
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  }
});
