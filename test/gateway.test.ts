/**
 * The gateway (SPEC §5, way in 3; docs/gateway.md), against a real upstream HTTP server on
 * 127.0.0.1 and tokenbox listening on a real port. The route table is the shipped example
 * (examples/gateway/tokenbox.json, with the upstream's port substituted) plus a few rules of the
 * test's own.
 *
 * - Allowed requests reach the upstream with the path unchanged, no token (query or Bearer), no
 *   client `X-Tokenbox-*` header, and ours; the answer comes back untouched (status, headers,
 *   body), with none of the API's CORS or no-store headers.
 * - Refused requests get the verdict and never reach the upstream.
 * - Bodies stream both ways: a 10 MB upload reaches the upstream before the client has sent it
 *   all; a response reaches the client before the upstream has finished it.
 * - Upstream failures: down → 502, hanging → 504 within `upstreamTimeoutMs`, invalid headers or
 *   a connection closed before its headers → 502; closed mid-body → the client's connection ends.
 * - tokenbox's own routes win over a catch-all; no rule → 404; ambiguous paths → 400.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { buildServer } from '../src/http/server.js';
import { startTestApp, useForSuite, type TestApp } from './helpers/app.js';
import { rawExchange } from './helpers/raw-http.js';

// -------------------------------------------------------------------------------------------------
// The upstream: records what it receives; a handler per path prefix says how it answers.

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Upstream {
  readonly port: number;
  readonly seen: Seen[];
  /** Answers for paths starting with `prefix` (longest first); default: 200 echoing the request. */
  on(prefix: string, handler: Handler): void;
  /** Raw sockets: for answers that are not valid HTTP. */
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const seen: Seen[] = [];
  const handlers = new Map<string, Handler>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    const prefix = [...handlers.keys()].sort((a, b) => b.length - a.length).find((p) => (req.url ?? '').startsWith(p));
    if (prefix !== undefined) return (handlers.get(prefix) as Handler)(req, res);
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, bytes, sha256: hash.digest('hex') }));
    });
  });
  server.maxHeadersCount = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    sockets,
    on: (prefix, handler) => handlers.set(prefix, handler),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

// -------------------------------------------------------------------------------------------------
// tokenbox, with the example's routes.

const EXAMPLE = new URL('../examples/gateway/tokenbox.json', import.meta.url);

/** The example config with its upstream (127.0.0.1:9000) pointed at the test's upstream, loaded as `serve` loads it. */
function exampleRoutes(upstreamPort: number): readonly Record<string, unknown>[] {
  const text = readFileSync(EXAMPLE, 'utf8');
  assert.match(text, /127\.0\.0\.1:9000/, 'the example proxies a tile server on 127.0.0.1:9000');
  const path = join(mkdtempSync(join(tmpdir(), 'tokenbox-gateway-')), 'tokenbox.json');
  writeFileSync(path, text.replaceAll('127.0.0.1:9000', `127.0.0.1:${upstreamPort}`));
  const loaded = loadConfig({ configPath: path, env: {} });
  assert.ok(loaded.ok, JSON.stringify(loaded));
  return loaded.config.routes;
}

interface World {
  readonly t: TestApp;
  readonly up: Upstream;
  readonly port: number;
  /** alice's default public token (every public scope). */
  readonly pk: string;
  readonly pkId: string;
  /** alice's sk with uploads:write. */
  readonly sk: string;
  /** bob's default public token. */
  readonly bobPk: string;
}

async function startWorld(overrides: Record<string, unknown> = {}): Promise<World> {
  const up = await startUpstream();
  const down = await closedPort();
  const routes = [
    ...exampleRoutes(up.port),
    { path: '/private/*', scope: 'map:read' }, // forward auth only: the gateway never forwards it
    { path: '/down/*', scope: 'styles:tiles', upstream: `http://127.0.0.1:${down}` },
    { path: '/*', scope: 'styles:read', upstream: `http://127.0.0.1:${up.port}` },
  ];
  const t = await startTestApp({ routes, upstreamTimeoutMs: 400, ...overrides });
  const address = await t.server.listen({ port: 0, host: '127.0.0.1' });
  const pkObject = await t.account('alice');
  const sk = await t.token('alice', ['uploads:write', 'styles:tiles']);
  const bob = await t.account('bob');
  return { t, up, port: Number(new URL(address).port), pk: pkObject.token as string, pkId: pkObject.id, sk: sk.token, bobPk: bob.token as string };
}

async function closeWorld(w: World | undefined): Promise<void> {
  if (w === undefined) return;
  await w.t.close();
  await w.up.close();
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One request with the path exactly as given (no client-side normalisation). */
function send(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function json(answer: Answer): Record<string, unknown> {
  return JSON.parse(answer.body) as Record<string, unknown>;
}

const API_HEADERS = ['access-control-allow-origin', 'access-control-expose-headers', 'access-control-allow-methods', 'access-control-allow-credentials'];

// -------------------------------------------------------------------------------------------------

describe('allowed requests: forwarded without the token, answered untouched', () => {
  let w: World;
  useForSuite(startWorld, closeWorld, (world) => (w = world));

  /** What a client sends to pass for someone: X-Tokenbox-* of its own choosing, and one ordinary header. */
  const CLIENT_HEADERS = {
    'x-tokenbox-user': 'mallory',
    'X-Tokenbox-Token-Id': 'c000000000000000000000000',
    'x-tokenbox-usage': 'sk',
    'x-tokenbox-anything': '1',
    'x-other': 'kept',
  };

  it('the upstream sees the path and query unchanged but for access_token (every spelling), and none of the client X-Tokenbox-* headers', async () => {
    const before = w.up.seen.length;
    const path = `/tiles/1/2/3.pbf?b=2&access_token=${w.pk}&a=x%20y&access%5Ftoken=${w.pk}&c&acc%65ss_token=${w.pk}`;
    const res = await send(w.port, path, {
      headers: CLIENT_HEADERS,
    });
    // A repeated access_token is malformed: 401. The same request with one spelling passes.
    assert.equal(res.status, 401);
    assert.equal(w.up.seen.length, before, 'a refused request never reaches the upstream');
    const ok = await send(w.port, `/tiles/1/2/3.pbf?b=2&access%5Ftoken=${w.pk}&a=x%20y&c`, {
      headers: CLIENT_HEADERS,
    });
    assert.equal(ok.status, 200, ok.body);
    const seen = w.up.seen.at(-1) as Seen;
    assert.equal(seen.url, '/tiles/1/2/3.pbf?b=2&a=x%20y&c');
    assert.equal(seen.headers['x-tokenbox-user'], 'alice');
    assert.equal(seen.headers['x-tokenbox-token-id'], w.pkId);
    assert.equal(seen.headers['x-tokenbox-usage'], 'pk');
    assert.equal(seen.headers['x-tokenbox-anything'], undefined);
    assert.equal(seen.headers['x-other'], 'kept');
    const tokenboxHeaders = seen.rawHeaders.filter((_h, i) => i % 2 === 0 && /^x-tokenbox-/i.test(seen.rawHeaders[i] as string));
    assert.equal(tokenboxHeaders.length, 3, 'exactly our three X-Tokenbox-* headers');
    assert.ok(!JSON.stringify(seen).includes(w.pk.split('.')[2] as string), 'the token is nowhere in what the upstream saw');
  });

  it('a Bearer token is stripped; another Authorization scheme is passed on', async () => {
    const res = await send(w.port, '/tiles/x?keep=1', { headers: { authorization: `Bearer ${w.pk}` } });
    assert.equal(res.status, 200);
    const seen = w.up.seen.at(-1) as Seen;
    assert.equal(seen.url, '/tiles/x?keep=1');
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers['x-tokenbox-user'], 'alice');
    const basic = await send(w.port, `/tiles/x?access_token=${w.pk}`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    assert.equal(basic.status, 200);
    assert.equal((w.up.seen.at(-1) as Seen).headers.authorization, 'Basic dXNlcjpwYXNz');
    assert.equal((w.up.seen.at(-1) as Seen).url, '/tiles/x');
  });

  it('status codes, headers and bodies come back untouched, without the API CORS or no-store headers', async () => {
    w.up.on('/styles/teapot', (_req, res) => {
      res.writeHead(418, {
        'content-type': 'text/plain',
        'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'],
        'x-custom': 'yes',
        'cache-control': 'public, max-age=60',
      });
      res.end("I'm a teapot");
    });
    w.up.on('/uploads/new', (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { location: '/uploads/42' });
        res.end();
      });
    });
    const teapot = await send(w.port, `/styles/teapot?access_token=${w.pk}`);
    assert.equal(teapot.status, 418);
    assert.equal(teapot.body, "I'm a teapot");
    assert.deepEqual(teapot.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly']);
    assert.equal(teapot.headers['x-custom'], 'yes');
    assert.equal(teapot.headers['content-type'], 'text/plain');
    assert.equal(teapot.headers['cache-control'], 'public, max-age=60', "the upstream's own Cache-Control");
    const created = await send(w.port, `/uploads/new?access_token=${w.sk}`, { method: 'POST', body: 'data', headers: { 'content-type': 'text/csv' } });
    assert.equal(created.status, 201);
    assert.equal(created.headers.location, '/uploads/42');
    const plain = await send(w.port, `/tiles/1.png?access_token=${w.pk}`);
    for (const res of [teapot, created, plain]) {
      for (const name of API_HEADERS) assert.equal(res.headers[name], undefined, name);
    }
    assert.equal(plain.headers['cache-control'], undefined, 'no no-store on a proxied answer');
  });

  it('any method and content type is forwarded with its body, including methods Fastify treats as bodyless', async () => {
    const bodies: ReadonlyArray<[string, string, string]> = [
      ['POST', '/uploads/a', 'application/json'],
      ['PUT', '/uploads/b', 'not a media type at all'],
      ['PATCH', '/anything/c', 'multipart/form-data; boundary=x'],
      ['QUERY', '/anything/d', 'application/x-www-form-urlencoded'],
      ['PROPFIND', '/anything/e', 'application/xml'],
    ];
    for (const [method, path, type] of bodies) {
      const body = `{"not": "json"`;
      const token = path.startsWith('/uploads') ? w.sk : w.pk;
      const res = await send(w.port, `${path}?access_token=${token}`, { method, body, headers: { 'content-type': type } });
      assert.equal(res.status, 200, `${method} ${path}: ${res.body}`);
      const echoed = json(res);
      assert.equal(echoed.method, method);
      assert.equal(echoed.bytes, body.length, `${method}: the whole body`);
      assert.equal(echoed.sha256, createHash('sha256').update(body).digest('hex'));
      assert.equal((w.up.seen.at(-1) as Seen).headers['content-type'], type);
    }
  });

  it('a body far over bodyLimit (the API cap) passes through', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 1);
    const res = await send(w.port, `/uploads/big?access_token=${w.sk}`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200, res.body);
    assert.equal(json(res).bytes, body.length);
  });
});

// -------------------------------------------------------------------------------------------------

describe('refusals: the verdict, and the upstream is never reached', () => {
  let w: World;
  useForSuite(startWorld, closeWorld, (world) => (w = world));

  const forged = (token: string): string => `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;

  it('no token, invalid, forged, missing scope: status and {message} exactly as forward auth', async () => {
    const rows: ReadonlyArray<[string, Record<string, string>, number, string]> = [
      ['/tiles/1.png', {}, 401, 'Not Authorized - No Token'],
      ['/tiles/1.png?access_token=pk.nope', {}, 401, 'Not Authorized - Invalid Token'],
      [`/tiles/1.png?access_token=${forged(w.pk)}`, {}, 401, 'Not Authorized - Invalid Token'],
      ['/tiles/1.png', { authorization: `Bearer ${forged(w.pk)}` }, 401, 'Not Authorized - Invalid Token'],
      [`/uploads/x?access_token=${w.pk}`, {}, 403, 'This endpoint requires a token with uploads:write scope'],
    ];
    const before = w.up.seen.length;
    for (const [path, headers, status, message] of rows) {
      const method = path.startsWith('/uploads') ? 'POST' : 'GET';
      const res = await send(w.port, path, { method, headers, body: method === 'POST' ? 'secret upload' : undefined });
      assert.equal(res.status, status, path);
      assert.deepEqual(json(res), { message }, path);
      assert.equal(res.headers['cache-control'], 'no-store');
    }
    assert.equal(w.up.seen.length, before, 'no refused request reached the upstream');
  });

  it('a URL restriction not met is 403 Forbidden, never reaching the upstream', async () => {
    const restricted = await w.t.token('alice', ['styles:tiles'], { allowedUrls: ['maps.example.com'] });
    const before = w.up.seen.length;
    const refused = await send(w.port, `/tiles/1.png?access_token=${restricted.token}`, { headers: { referer: 'https://evil.example.org/' } });
    assert.equal(refused.status, 403);
    assert.deepEqual(json(refused), { message: 'Forbidden' });
    assert.equal(w.up.seen.length, before);
    const allowed = await send(w.port, `/tiles/1.png?access_token=${restricted.token}`, { headers: { referer: 'https://maps.example.com/app' } });
    assert.equal(allowed.status, 200);
    assert.equal(w.up.seen.length, before + 1);
  });

  it('no matching rule: 404 {"message":"Not found"}; a rule without upstream is never forwarded, even with a catch-all behind it', async () => {
    const before = w.up.seen.length;
    // /private/* serves forward auth only; it comes before the catch-all, so the gateway does not forward it.
    for (const path of [`/private/x?access_token=${w.pk}`, `/private?access_token=${w.pk}`]) {
      const res = await send(w.port, path);
      assert.equal(res.status, 404, path);
      assert.deepEqual(json(res), { message: 'Not found' });
    }
    // /tiles/* names GET and HEAD only; a DELETE falls to no other rule before the catch-all, which takes it.
    const del = await send(w.port, `/tiles/1?access_token=${w.pk}`, { method: 'DELETE' });
    assert.equal(del.status, 200, 'the catch-all /* (styles:read) takes a DELETE the /tiles/* rule does not name');
    assert.equal(w.up.seen.length, before + 1);
  });

  it("tokenbox's own routes win over the catch-all, and its prefixes are never forwarded", async () => {
    const before = w.up.seen.length;
    const health = await send(w.port, '/health');
    assert.equal(health.status, 200);
    assert.equal(json(health).status, 'ok');
    const list = await send(w.port, '/tokens/v2/alice', { headers: { authorization: `Bearer ${w.sk}` } });
    assert.equal(list.status, 404, 'the API judged it (the sk lacks tokens:read)');
    assert.equal(list.headers['access-control-allow-origin'], '*', 'an API answer');
    for (const path of [
      `/tokens/unknown?access_token=${w.pk}`,
      `/admin/v1/x?access_token=${w.pk}`,
      `/analytics/v1/x?access_token=${w.pk}`,
      `/tokens%2Fv2?access_token=${w.pk}`,
    ]) {
      const res = await send(w.port, path, { method: 'PROPFIND' });
      assert.equal(res.status, 404, path);
      assert.deepEqual(json(res), { message: 'Not found' });
    }
    const preflight = await send(w.port, '/tokens/v2/alice', {
      method: 'OPTIONS',
      headers: { origin: 'https://a.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(preflight.status, 204, "the API's preflight");
    assert.equal(w.up.seen.length, before, 'none of these reached the upstream');
    // Off tokenbox's paths, OPTIONS is the upstream's (a preflight carries the token in its URL).
    const upstreamOptions = await send(w.port, `/anything/x?access_token=${w.pk}`, { method: 'OPTIONS' });
    assert.equal(upstreamOptions.status, 200);
    assert.equal(json(upstreamOptions).method, 'OPTIONS', 'answered by the upstream');
  });

  it('paths an upstream could read differently are refused 400 before any rule is matched', async () => {
    const before = w.up.seen.length;
    for (const path of [
      '/tiles/../private/x',
      '/tiles/%2e%2e/private/x',
      '/tiles/./x',
      '/tiles/..;/private/x',
      '/tiles/%252e%252e/private/x',
      '/tiles/%252fprivate',
      '/tiles\\..\\private',
      '/tiles/%5c..%5cprivate',
      '/tiles/a%2F..%2F..%2Fprivate/x',
    ]) {
      const res = await send(w.port, `${path}?access_token=${w.pk}`);
      assert.equal(res.status, 400, path);
      assert.deepEqual(json(res), { message: 'Bad Request' }, path);
    }
    assert.equal(w.up.seen.length, before);
    // One %2F is data to most upstreams: judged by every reading, and forwarded unchanged.
    const slash = await send(w.port, `/tiles/a%2Fb?access_token=${w.pk}`);
    assert.equal(slash.status, 200);
    assert.equal((w.up.seen.at(-1) as Seen).url, '/tiles/a%2Fb');
  });

  it('a GET with a body is refused 400 (the proxy library cannot forward it, and dropping it would change the request)', async () => {
    const before = w.up.seen.length;
    const res = await send(w.port, `/tiles/1.png?access_token=${w.pk}`, { body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 400);
    assert.equal(w.up.seen.length, before);
  });
});

// -------------------------------------------------------------------------------------------------

describe('streaming: neither body is held whole', () => {
  let w: World;
  useForSuite(startWorld, closeWorld, (world) => (w = world));

  it('a 10 MB upload reaches the upstream before the client has finished sending it, every byte intact', { timeout: 20_000 }, async () => {
    const TOTAL = 10 * 1024 * 1024;
    const CHUNK = 256 * 1024;
    let firstBytes!: () => void;
    const upstreamStarted = new Promise<void>((resolve) => (firstBytes = resolve));
    let received = 0;
    const hash = createHash('sha256');
    w.up.on('/uploads/stream', (req, res) => {
      req.on('data', (chunk: Buffer) => {
        if (received === 0) firstBytes();
        received += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ received }));
      });
    });
    const sent = createHash('sha256');
    const answer = new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: w.port,
          path: `/uploads/stream?access_token=${w.sk}`,
          method: 'PUT',
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) },
          agent: false,
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      void (async () => {
        // The first MiB, then nothing more until the upstream has started receiving: a gateway that
        // buffered the whole body would never forward anything, and this test would time out.
        for (let off = 0; off < TOTAL; off += CHUNK) {
          if (off === 1024 * 1024) {
            await upstreamStarted;
            assert.ok(received < TOTAL, 'the upstream receives while the client is still sending');
          }
          const chunk = Buffer.alloc(CHUNK, off / CHUNK);
          sent.update(chunk);
          if (!req.write(chunk)) await new Promise((resolve) => req.once('drain', resolve));
        }
        req.end();
      })().catch(reject);
    });
    const res = await answer;
    assert.equal(res.status, 201);
    assert.deepEqual(JSON.parse(res.body), { received: TOTAL });
    assert.equal(hash.digest('hex'), sent.digest('hex'), 'every byte, in order');
  });

  it('a response reaches the client before the upstream has finished it', { timeout: 10_000 }, async () => {
    let clientGotFirst!: () => void;
    const first = new Promise<void>((resolve) => (clientGotFirst = resolve));
    w.up.on('/tiles/slow', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('first-chunk;');
      // The rest only once the client has the first chunk through tokenbox.
      void first.then(() => res.end('rest'));
    });
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: w.port, path: `/tiles/slow?access_token=${w.pk}`, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
          if (text.includes('first-chunk;')) clientGotFirst();
        });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(body, 'first-chunk;rest');
  });
});

// -------------------------------------------------------------------------------------------------

describe('upstream failures and bad input: a clear answer, never a 500 or a hang', () => {
  let w: World;
  useForSuite(startWorld, closeWorld, (world) => (w = world));

  it('an upstream that is down: 502 Bad Gateway', async () => {
    const res = await send(w.port, `/down/x?access_token=${w.pk}`);
    assert.equal(res.status, 502);
    assert.deepEqual(json(res), { message: 'Bad Gateway' });
  });

  it('an upstream that never answers: 504 Gateway Timeout within upstreamTimeoutMs (400 ms here)', { timeout: 10_000 }, async () => {
    const hung: ServerResponse[] = [];
    w.up.on('/tiles/hang', (_req, res) => void hung.push(res));
    const res = await send(w.port, `/tiles/hang?access_token=${w.pk}`);
    assert.equal(res.status, 504);
    assert.deepEqual(json(res), { message: 'Gateway Timeout' });
    for (const r of hung) r.destroy();
  });

  it('an upstream answering with an invalid header, or closing before its headers end: 502', async () => {
    const raw =
      (bytes: string): Handler =>
      (req) =>
        req.socket.end(bytes);
    w.up.on('/tiles/bad-header', raw('HTTP/1.1 200 OK\r\nBad Header: x\r\ncontent-length: 2\r\n\r\nok'));
    w.up.on('/tiles/bad-value', raw('HTTP/1.1 200 OK\r\nx-bad: a\u0001b\r\ncontent-length: 2\r\n\r\nok'));
    w.up.on('/tiles/bad-status', raw('HTTP/1.1 999 Nope\r\ncontent-length: 2\r\n\r\nok'));
    w.up.on('/tiles/not-http', raw('SSH-2.0-OpenSSH\r\n'));
    w.up.on('/tiles/half-headers', raw('HTTP/1.1 200 OK\r\ncontent-type: text/pl'));
    for (const path of ['/tiles/bad-header', '/tiles/bad-value', '/tiles/bad-status', '/tiles/not-http', '/tiles/half-headers']) {
      const res = await send(w.port, `${path}?access_token=${w.pk}`);
      assert.equal(res.status, 502, `${path}: ${res.status} ${res.body}`);
      assert.deepEqual(json(res), { message: 'Bad Gateway' }, path);
    }
  });

  it('an upstream closing mid-body: the client sees its connection end (no hang), and the next request is served', { timeout: 10_000 }, async () => {
    w.up.on('/tiles/cut', (req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('x'.repeat(100), () => req.socket.destroy());
    });
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: w.port, path: `/tiles/cut?access_token=${w.pk}`, agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve(`ended after ${bytes} of 1000`));
        res.on('aborted', () => resolve('aborted'));
        res.on('error', () => resolve('aborted'));
      });
      req.on('error', () => resolve('aborted'));
      req.end();
    });
    assert.equal(outcome, 'aborted', 'a truncated body is never presented as complete');
    assert.equal((await send(w.port, `/tiles/after-cut?access_token=${w.pk}`)).status, 200);
  });

  it("a request with 1,000 headers is forwarded whole; past Node's own parser limit it is a 4xx from Node, never a 500, never forwarded", async () => {
    // 998 of ours, plus Host and Connection: 1,000 headers.
    const headers: Record<string, string> = {};
    for (let i = 0; i < 998; i++) headers[`x-h-${i}`] = String(i);
    const res = await send(w.port, `/tiles/many?access_token=${w.pk}`, { headers });
    assert.equal(res.status, 200, res.body);
    const seen = w.up.seen.at(-1) as Seen;
    assert.equal(seen.url, '/tiles/many');
    for (let i = 0; i < 998; i++) assert.equal(seen.headers[`x-h-${i}`], String(i));
    // Node 20's HTTP parser refuses a request with more than ~1,000 headers (or over 16 KiB of
    // them) before any handler runs: tokenbox never sees it, and keeps serving.
    const before = w.up.seen.length;
    for (const [count, size] of [
      [1100, 1],
      [400, 100],
    ] as const) {
      const many: Record<string, string> = {};
      for (let i = 0; i < count; i++) many[`x-h-${i}`] = 'v'.repeat(size);
      const refused = await send(w.port, `/tiles/many?access_token=${w.pk}`, { headers: many });
      assert.ok(refused.status === 400 || refused.status === 431, `${count} headers: ${refused.status}`);
    }
    assert.equal(w.up.seen.length, before);
    assert.equal((await send(w.port, `/tiles/many?access_token=${w.pk}`)).status, 200);
  });

  it('Expect: 100-continue and hop-by-hop request headers do not reach the upstream (nor break the request)', async () => {
    const res = await send(w.port, `/uploads/expect?access_token=${w.sk}`, {
      method: 'POST',
      body: 'payload',
      headers: { 'content-type': 'text/plain', expect: '100-continue', 'keep-alive': 'timeout=5', te: 'trailers', 'proxy-connection': 'keep-alive' },
    });
    assert.equal(res.status, 200, res.body);
    assert.equal(json(res).bytes, 'payload'.length);
    const seen = w.up.seen.at(-1) as Seen;
    for (const name of ['expect', 'keep-alive', 'te', 'proxy-connection']) assert.equal(seen.headers[name], undefined, name);
  });

  it('an absolute-form request target is not forwarded anywhere', async () => {
    const before = w.up.seen.length;
    const raw = await rawExchange(w.port, `GET http://evil.example/tiles/1?access_token=${w.pk} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 (400|404) /);
    assert.equal(w.up.seen.length, before);
  });
});

// -------------------------------------------------------------------------------------------------

describe('logs: no line per proxied request at the default level, never a token', () => {
  let w: World;
  useForSuite(startWorld, closeWorld, (world) => (w = world));

  it('successes and refusals write nothing; an upstream failure writes one warn line without the token', async () => {
    const lines: string[] = [];
    // The production logger (info level), on the same tokenbox.
    const server = buildServer(w.t.app, { logDestination: { write: (line: string) => lines.push(line) } });
    try {
      await server.ready();
      const ok = await server.inject({ url: `/tiles/1.png?access_token=${w.pk}` });
      assert.equal(ok.statusCode, 200);
      assert.equal((await server.inject({ url: `/tiles/1.png?access_token=${w.pk.slice(0, -1)}${w.pk.endsWith('A') ? 'B' : 'A'}` })).statusCode, 401);
      assert.equal((await server.inject({ url: '/nothing/here' })).statusCode, 401, 'the catch-all /* rule: no token');
    } catch (error) {
      await server.close();
      throw error;
    }
    try {
      assert.equal(lines.length, 0, `no line for a proxied request or a refusal: ${lines.join('')}`);
      const failed = await server.inject({ url: `/down/x?access_token=${w.pk}` });
      assert.equal(failed.statusCode, 502);
      assert.equal(lines.length, 1, lines.join('\n'));
      const line = JSON.parse(lines[0] as string) as { level: number; msg: string };
      assert.equal(line.level, 40, 'warn');
      assert.ok(!(lines[0] as string).includes(w.pk.split('.')[2] as string), 'no token in the line');
      // The API still logs its request lines.
      await server.inject({ url: '/health' });
      assert.match(lines.join('\n'), /incoming request/);
    } finally {
      await server.close();
    }
  });
});
