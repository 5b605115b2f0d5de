/**
 * examples/nginx/nginx.conf against a real nginx (Debian's package, /usr/sbin/nginx), a real
 * `tokenbox serve` and a recording upstream: nginx `auth_request` asks tokenbox about each
 * request, passes the allowed ones upstream with the identity headers, and replays every refusal
 * (401, 403, 429 with Retry-After, 400) with tokenbox's status and JSON message. The upstream
 * never sees a refused request or a token, and nginx's logs never hold a token.
 *
 * Without nginx the suite is skipped with the reason, except under CI (`CI` set), where a missing
 * nginx is a failure: .ci/run installs it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, children, cli, cliJson, ensureBuilt, startServer, stopServer, type RunningServer } from './helpers/cli.js';
import { nginxMissing, startNginx, type RunningNginx } from './helpers/nginx.js';
import { canRun } from './helpers/requirements.js';

const TEMPLATE = join(ROOT, 'examples', 'nginx', 'nginx.conf');
const RATE_LIMIT = 3;

const missing = nginxMissing();
canRun('nginx auth_request in front of tokenbox (examples/nginx)', missing);

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

interface TokenObject {
  readonly id: string;
  readonly token: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

describe('nginx auth_request in front of tokenbox (examples/nginx)', { skip: missing !== null, timeout: 120_000 }, () => {
  const dirs: string[] = [];
  let dataDir: string;
  let nginx: RunningNginx | undefined;
  let nginxPort: number;
  let upstream: Server;
  let tokenbox: RunningServer | undefined;
  const seen: Seen[] = [];
  /** Every request sent through nginx, with the status the client got. */
  const sent: { path: string; status: number }[] = [];
  const tokens = {} as Record<'pass' | 'bearer' | 'forged' | 'noScope' | 'restricted' | 'doomed' | 'limited', TokenObject>;
  let counter = 0;

  /** A GET through nginx to `/tiles/<label>-<n>` plus `query`; every path is unique. */
  async function get(label: string, query = '', headers: Record<string, string> = {}): Promise<Reply & { path: string }> {
    const path = `/tiles/${label}-${++counter}`;
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: nginxPort, path: path + query, method: 'GET', headers, agent: false, timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
      req.on('error', reject);
      req.end();
    });
    sent.push({ path, status: reply.status });
    return { ...reply, path };
  }

  function assertRefusal(reply: Reply, status: number, message: string): void {
    assert.equal(reply.status, status, `expected ${status} ${message}, got ${reply.status}: ${reply.body}`);
    assert.match(String(reply.headers['content-type']), /^application\/json/);
    assert.deepEqual(JSON.parse(reply.body), { message });
    assert.equal(reply.headers['cache-control'], 'no-store');
  }

  function seenPaths(): string[] {
    return seen.map((s) => s.url.split('?')[0] ?? s.url);
  }

  before(async () => {
    ensureBuilt();
    dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-nginx-data-'));
    dirs.push(dataDir);

    // Tokens, made with the CLI as an operator would.
    await cliJson(['accounts', 'create', 'alice', '--data', dataDir]);
    const make = (...args: string[]) => cliJson<TokenObject>(['tokens', 'create', 'alice', ...args, '--data', dataDir]);
    tokens.pass = await make('--scopes', 'styles:tiles');
    tokens.bearer = await make('--scopes', 'styles:tiles');
    tokens.forged = await make('--scopes', 'styles:tiles');
    tokens.noScope = await make('--scopes', 'styles:read');
    tokens.restricted = await make('--scopes', 'styles:tiles', '--allowed-urls', 'https://maps.example.com');
    tokens.doomed = await make('--scopes', 'styles:tiles');
    tokens.limited = await make('--scopes', 'styles:tiles');

    // The protected API: records every request that reaches it.
    upstream = createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`tile ${req.url}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as AddressInfo).port;

    tokenbox = await startServer(dataDir, { TOKENBOX_TOKEN_RATE_LIMIT: String(RATE_LIMIT) });

    nginx = await startNginx(TEMPLATE, { TOKENBOX: new URL(tokenbox.origin).host, UPSTREAM: `127.0.0.1:${upstreamPort}` }, async (port) => {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      return res.status === 404;
    });
    nginxPort = nginx.port;
  });

  after(async () => {
    await nginx?.stop();
    if (tokenbox && children.has(tokenbox.proc)) await stopServer(tokenbox, ['SIGTERM']);
    if (upstream) await new Promise<void>((resolve) => upstream.close(() => resolve()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('a valid pk passes: 200 from the upstream, with the identity and without the token', async () => {
    const reply = await get('valid', `?foo=bar&access_token=${tokens.pass.token}&baz=1`);
    assert.equal(reply.status, 200, reply.body);
    assert.equal(reply.body, `tile ${reply.path}?foo=bar&baz=1`);
    const upstreamSaw = seen.find((s) => s.url.startsWith(reply.path));
    assert.ok(upstreamSaw, 'the upstream did not see the request');
    assert.equal(upstreamSaw.headers['x-tokenbox-user'], 'alice');
    assert.equal(upstreamSaw.headers['x-tokenbox-token-id'], tokens.pass.id);
    assert.equal(upstreamSaw.headers['x-tokenbox-usage'], 'pk');
    assert.equal(upstreamSaw.url, `${reply.path}?foo=bar&baz=1`, 'access_token reached the upstream');
  });

  it('the token as the only or last parameter is stripped too', async () => {
    const only = await get('only', `?access_token=${tokens.pass.token}`);
    assert.equal(only.status, 200, only.body);
    const last = await get('last', `?x=1&access_token=${tokens.pass.token}`);
    assert.equal(last.status, 200, last.body);
    assert.ok(seen.some((s) => s.url === only.path));
    assert.ok(seen.some((s) => s.url === `${last.path}?x=1`));
  });

  it('a Bearer token passes, and the upstream does not see the Authorization header', async () => {
    const reply = await get('bearer', '', { authorization: `Bearer ${tokens.bearer.token}` });
    assert.equal(reply.status, 200, reply.body);
    const upstreamSaw = seen.find((s) => s.url === reply.path);
    assert.ok(upstreamSaw);
    assert.equal(upstreamSaw.headers.authorization, undefined);
    assert.equal(upstreamSaw.headers['x-tokenbox-token-id'], tokens.bearer.id);
  });

  it('client-sent X-Tokenbox-* headers never reach the upstream', async () => {
    const reply = await get('forged', `?access_token=${tokens.forged.token}`, {
      'x-tokenbox-user': 'mallory',
      'x-tokenbox-token-id': 'forged',
      'x-tokenbox-status': '200',
      'x-tokenbox-message': 'hello',
    });
    assert.equal(reply.status, 200, reply.body);
    const upstreamSaw = seen.find((s) => s.url === reply.path);
    assert.ok(upstreamSaw);
    assert.equal(upstreamSaw.headers['x-tokenbox-user'], 'alice');
    assert.equal(upstreamSaw.headers['x-tokenbox-token-id'], tokens.forged.id);
    assert.equal(upstreamSaw.headers['x-tokenbox-status'], undefined);
    assert.equal(upstreamSaw.headers['x-tokenbox-message'], undefined);
  });

  it('no token → 401 Not Authorized - No Token', async () => {
    assertRefusal(await get('none'), 401, 'Not Authorized - No Token');
    assertRefusal(await get('none', '?foo=bar'), 401, 'Not Authorized - No Token');
  });

  it('a forged token → 401 Not Authorized - Invalid Token', async () => {
    assertRefusal(await get('forged-string', '?access_token=pk.eyJ1IjoiYWxpY2UifQ.bm90LWEtbWFj'), 401, 'Not Authorized - Invalid Token');
  });

  it('a token without styles:tiles → 403 with the scope message', async () => {
    assertRefusal(await get('noscope', `?access_token=${tokens.noScope.token}`), 403, 'This endpoint requires a token with styles:tiles scope');
  });

  it('a URL-restricted token: the wrong referrer → 403 Forbidden, the right one passes', async () => {
    const wrong = await get('referrer', `?access_token=${tokens.restricted.token}`, { referer: 'https://evil.example.org/map' });
    assertRefusal(wrong, 403, 'Forbidden');
    assertRefusal(await get('referrer', `?access_token=${tokens.restricted.token}`), 403, 'Forbidden');
    const right = await get('referrer', `?access_token=${tokens.restricted.token}`, { referer: 'https://maps.example.com/app' });
    assert.equal(right.status, 200, right.body);
  });

  it('a token deleted with the CLI → 401 Not Authorized - Invalid Token within 1 s', async () => {
    const warm = await get('doomed', `?access_token=${tokens.doomed.token}`);
    assert.equal(warm.status, 200, warm.body);
    const result = await cli(['tokens', 'delete', 'alice', tokens.doomed.id, '--data', dataDir]);
    assert.equal(result.code, 0, result.stderr);
    const deleted = Date.now();
    // At most three checks after the delete: with the warm-up, a still-valid token would spend
    // its whole budget of 3 and the last check would read 429, never a false pass.
    let reply: Reply | undefined;
    for (const at of [250, 600, 1_000]) {
      await sleep(deleted + at - Date.now());
      reply = await get('doomed', `?access_token=${tokens.doomed.token}`);
      if (reply.status === 401) break;
    }
    assert.ok(reply);
    const ms = Date.now() - deleted;
    assert.equal(reply.status, 401, `the deleted token still got ${reply.status} ${reply.body} ${ms} ms after the delete`);
    assertRefusal(reply, 401, 'Not Authorized - Invalid Token');
  });

  it(`the ${RATE_LIMIT + 1}th request in the window → 429 Too Many Requests with Retry-After`, async () => {
    for (let i = 0; i < RATE_LIMIT; i++) {
      const ok = await get('limited', `?access_token=${tokens.limited.token}`);
      assert.equal(ok.status, 200, `request ${i + 1}: ${ok.body}`);
    }
    const limited = await get('limited', `?access_token=${tokens.limited.token}`);
    assertRefusal(limited, 429, 'Too Many Requests');
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${limited.headers['retry-after']}`);
  });

  it('a refusal without Retry-After carries none', async () => {
    const reply = await get('none');
    assert.equal(reply.status, 401);
    assert.equal(reply.headers['retry-after'], undefined);
  });

  it("tokenbox's 400 for a URI it cannot read is replayed as 400", async () => {
    assertRefusal(await get('bad-escape', `?q=%zz&access_token=${tokens.pass.token}`), 400, 'Original URI is invalid');
  });

  it('the upstream saw every allowed request and none of the refused ones', () => {
    const allowed = sent
      .filter((s) => s.status === 200)
      .map((s) => s.path)
      .sort();
    const refused = sent.filter((s) => s.status !== 200).map((s) => s.path);
    assert.ok(refused.length >= 8, 'the refusals above were sent');
    assert.deepEqual([...seenPaths()].sort(), allowed);
    for (const path of refused) assert.ok(!seenPaths().includes(path), `the upstream saw the refused ${path}`);
    for (const s of seen) assert.doesNotMatch(s.url, /access_token/);
  });

  it('tokenbox unreachable → 503 Service Unavailable, nothing upstream', async () => {
    assert.ok(tokenbox);
    await stopServer(tokenbox, ['SIGTERM']);
    const before = seen.length;
    const reply = await get('down', `?access_token=${tokens.pass.token}`);
    assertRefusal(reply, 503, 'Service Unavailable');
    assert.equal(reply.headers['retry-after'], undefined);
    assert.equal(seen.length, before);
  });

  it("nginx's logs hold no token", () => {
    const access = nginx?.accessLog() ?? '';
    // Lines for /tiles/ only: the start-up probes of `/` are logged too.
    const lines = access.split('\n').filter((line) => line.includes(' /tiles/'));
    assert.equal(lines.length, sent.length, `one access log line per request:\n${access}`);
    for (const status of [200, 400, 401, 403, 429, 503]) assert.match(access, new RegExp(`" ${status} `), `no ${status} line`);
    assert.match(access, /user="alice" token_id="\w+"/, 'the identity is logged for allowed requests');
    for (const log of nginx?.allLogs() ?? []) {
      assert.doesNotMatch(log, /access_token/);
      for (const token of Object.values(tokens)) assert.ok(!log.includes(token.token), `a token is in nginx's logs:\n${log}`);
    }
  });
});
