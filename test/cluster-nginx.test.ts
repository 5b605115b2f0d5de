/**
 * examples/cluster/nginx.conf against a real nginx (Debian's package, /usr/sbin/nginx) in front
 * of two real `tokenbox serve` nodes on one PostgreSQL schema, with `TOKENBOX_TRUST_PROXY` naming
 * the balancer (127.0.0.1). The client connects from 127.0.0.2, so the address a node records can
 * be told from the balancer's.
 *
 * - Requests through nginx reach both nodes (each node's own request log).
 * - A token created through nginx verifies through nginx, and is refused through nginx within 1 s
 *   of its delete through nginx, whichever node each request lands on (nginx's access log says
 *   which did).
 * - A node that loses PostgreSQL (a TCP proxy between it and the server, cut by the test)
 *   answers 503: nginx passes GETs on to the other node (200 to the client), but not a POST
 *   that node received (the client gets its 503; nothing is created twice).
 * - A node stopped with SIGTERM while requests flow: every GET still gets its 200 (nginx retries
 *   a refused connection or the closing node's 503 on the other node).
 * - The client's address reaches the nodes (the audit log's `ip`), not the balancer's nor one the
 *   client forged in X-Forwarded-For; `Link` uses the host the client asked for.
 *
 * Without nginx or PostgreSQL the suite is reported as skipped with the reason, except under CI,
 * where that is a failure.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TEST_SECRET } from './helpers/app.js';
import { ROOT, children, cliJson, ensureBuilt, startServer, stopServer, storeArgs, type RunningServer } from './helpers/cli.js';
import { nginxMissing, startNginx, type RunningNginx } from './helpers/nginx.js';
import { createTestSchema, postgresMissing, type TestSchema } from './helpers/postgres.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { canRun } from './helpers/requirements.js';

const TEMPLATE = join(ROOT, 'examples', 'cluster', 'nginx.conf');
/** The balancer's address, as the nodes see it: what `trustProxy` names. */
const BALANCER = '127.0.0.1';
/** The test client's own address (any of 127.0.0.0/8 reaches nginx on 127.0.0.1). */
const CLIENT = '127.0.0.2';
// The sk makes ~100 API calls within a minute, most of them on one node once B is stopped: above
// the default per-token limit (100 per 60 s), which is not what this test is about.
const ENV = { TOKENBOX_SECRET: TEST_SECRET, TOKENBOX_TRUST_PROXY: BALANCER, TOKENBOX_ACCOUNT_RATE_LIMIT: '10000' };
/** SPEC §7: from a delete to every node refusing the token. */
const BOUND_MS = 1_000;
/** How long a poll may run before the test gives up (generous: the machine is shared). */
const POLL_CAP_MS = 30_000;

async function whyMissing(): Promise<string | null> {
  const reasons: string[] = [];
  const nginx = nginxMissing();
  if (nginx !== null) reasons.push(nginx);
  const postgres = await postgresMissing();
  if (postgres !== null) reasons.push(postgres);
  return reasons.length > 0 ? reasons.join('; ') : null;
}

const missing = await whyMissing();
canRun('nginx in front of two nodes (examples/cluster)', missing);

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface Created {
  readonly id: string;
  readonly token: string;
}

/** One line of the example's access log (`log_format tokenbox_lb`). */
interface Logged {
  readonly method: string;
  readonly uri: string;
  readonly status: number;
  /** The nodes nginx tried, in order (`host:port`), and what each answered. */
  readonly upstreams: string[];
  readonly upstreamStatuses: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

describe('nginx in front of two serve nodes on one PostgreSQL (examples/cluster)', { skip: missing !== null, timeout: 180_000 }, () => {
  let schema: TestSchema;
  let nginx: RunningNginx | undefined;
  let nginxPort: number;
  let nodeA: RunningServer;
  let nodeB: RunningServer;
  /** Between node B and PostgreSQL. */
  let proxy: TcpProxy;
  let sk: string;
  /** Every token string the test saw, to look for in nginx's logs. */
  const secrets: string[] = [];
  /** Responses received through nginx: each is one access log line. */
  let answered = 0;

  /** A request through nginx, from CLIENT, on a connection of its own. */
  function send(method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const all = { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }) };
    return new Promise<Reply>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: nginxPort, localAddress: CLIENT, path, method, headers: all, agent: false, timeout: 20_000 },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            answered++;
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  async function createToken(headers: Record<string, string> = {}): Promise<Created> {
    const reply = await send('POST', '/tokens/v2/alice', { ...bearer(sk), ...headers }, { scopes: ['styles:tiles'] });
    assert.equal(reply.status, 200, reply.body);
    const created = JSON.parse(reply.body) as Created;
    secrets.push(created.token);
    return created;
  }

  /** nginx auth_request style: what `/auth/v1/check` answers, through the balancer, for `token`. */
  async function check(token: string): Promise<number> {
    const reply = await send('GET', '/auth/v1/check?scope=styles:tiles', { 'x-original-uri': `/tiles/1/2/3.png?access_token=${encodeURIComponent(token)}` });
    return reply.status;
  }

  /** The access log so far, parsed. */
  function accessLog(): Logged[] {
    const text = nginx?.accessLog() ?? '';
    const lines: Logged[] = [];
    for (const line of text.split('\n')) {
      const match = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) .* upstream="([^"]*)" upstream_status="([^"]*)"/.exec(line);
      if (!match) continue;
      const list = (value: string) => value.split(/[,:]\s+/).filter((u) => u.length > 0 && u !== '-');
      lines.push({
        method: match[1] as string,
        uri: match[2] as string,
        status: Number(match[3]),
        upstreams: list(match[4] as string),
        upstreamStatuses: list(match[5] as string),
      });
    }
    return lines;
  }

  /** Waits until nginx has logged a line for every answer so far (it logs after it answers). */
  async function loggedLines(count = answered): Promise<Logged[]> {
    const started = Date.now();
    for (;;) {
      const lines = accessLog();
      if (lines.length >= count) return lines;
      assert.ok(Date.now() - started < POLL_CAP_MS, `the access log holds ${lines.length} lines, not ${count}`);
      await sleep(10);
    }
  }

  before(async () => {
    ensureBuilt();
    schema = await createTestSchema();

    const flags = storeArgs({ databaseUrl: schema.url });
    await cliJson(['accounts', 'create', 'alice', ...flags], ENV);
    sk = (await cliJson<Created>(['tokens', 'create', 'alice', '--scopes', 'tokens:read,tokens:write,styles:tiles', ...flags], ENV)).token;
    secrets.push(sk);
    nodeA = await startServer({ databaseUrl: schema.url }, ENV);
    const direct = new URL(schema.url);
    proxy = await startTcpProxy(direct.hostname, Number(direct.port || 5432));
    const proxied = new URL(schema.url);
    proxied.port = String(proxy.port);
    nodeB = await startServer({ databaseUrl: proxied.toString() }, ENV);

    nginx = await startNginx(TEMPLATE, { NODE_A: new URL(nodeA.origin).host, NODE_B: new URL(nodeB.origin).host }, async (port) => {
      nginxPort = port;
      return (await send('GET', '/health')).status === 200;
    });
  });

  after(async () => {
    await nginx?.stop();
    for (const child of children) child.kill('SIGKILL');
    await proxy?.close();
    await schema?.drop();
  });

  it('requests through nginx reach both nodes (each counted in its own log)', async () => {
    const marker = `probe${Date.now()}`;
    const total = 20;
    for (let i = 0; i < total; i++) {
      const reply = await send('GET', `/tokens/v2/alice?limit=1&${marker}=${i}`, bearer(sk));
      assert.equal(reply.status, 200, reply.body);
    }
    // A node logs `incoming request` before it answers; its stdout may still be on the way.
    const count = (node: RunningServer) =>
      node
        .output()
        .split('\n')
        .filter((line) => line.includes('"incoming request"') && line.includes(`&${marker}=`)).length;
    const started = Date.now();
    while (count(nodeA) + count(nodeB) < total) {
      assert.ok(Date.now() - started < POLL_CAP_MS, `the nodes logged ${count(nodeA)} + ${count(nodeB)} of ${total} requests`);
      await sleep(10);
    }
    console.log(`# ${total} GETs through nginx: node A logged ${count(nodeA)}, node B ${count(nodeB)}`);
    assert.equal(count(nodeA) + count(nodeB), total, 'each request reached exactly one node');
    assert.ok(count(nodeA) > 0 && count(nodeB) > 0, `both nodes served: A ${count(nodeA)}, B ${count(nodeB)}`);
  });

  it('a token created through nginx verifies through nginx, and is refused through nginx within 1 s of its delete through nginx', async () => {
    const figures: number[] = [];
    const deleted: string[] = [];
    for (let i = 0; i < 10; i++) {
      const created = await createToken();
      assert.equal(await check(created.token), 200, 'the new token verifies through nginx');
      const gone = await send('DELETE', `/tokens/v2/alice/${created.id}`, bearer(sk));
      assert.equal(gone.status, 204, gone.body);
      deleted.push(created.id);
      const started = performance.now();
      for (;;) {
        if ((await check(created.token)) === 401) break;
        assert.ok(performance.now() - started < POLL_CAP_MS, `the deleted token still verifies after ${POLL_CAP_MS} ms`);
      }
      figures.push(performance.now() - started);
    }
    console.log(`# delete through nginx → 401 through nginx: ${figures.map((ms) => ms.toFixed(1)).join(', ')} ms`);
    assert.ok(Math.max(...figures) < BOUND_MS, `within ${BOUND_MS} ms: ${figures.join(', ')}`);

    // Which node took each delete, and which refused the token afterwards (nginx's access log).
    const lines = await loggedLines();
    let crossNode = 0;
    const refusedBy = new Set<string>();
    for (const id of deleted) {
      const at = lines.findIndex((line) => line.method === 'DELETE' && line.uri === `/tokens/v2/alice/${id}`);
      assert.ok(at >= 0, `the DELETE of ${id} is in the access log`);
      const deleter = lines[at]?.upstreams.at(-1);
      const refusal = lines.slice(at + 1).find((line) => line.uri === '/auth/v1/check' && line.status === 401);
      assert.ok(refusal, `the refusal after the DELETE of ${id} is in the access log`);
      const refuser = refusal.upstreams.at(-1) ?? '';
      refusedBy.add(refuser);
      if (refuser !== deleter) crossNode++;
    }
    console.log(`# refused by a node other than the one that took the delete: ${crossNode} of ${deleted.length}`);
    assert.ok(crossNode > 0, 'at least one delete and its refusal landed on different nodes');
  });

  it('a node that loses PostgreSQL answers 503: GETs through nginx go on to the other node, a POST it received is not retried', async () => {
    const hostB = new URL(nodeB.origin).host;
    const hostA = new URL(nodeA.origin).host;
    proxy.cut();
    await pollDirect(nodeB, 503);

    // Round robin: of two creates, one lands on B, which answers 503 having written nothing.
    // nginx does not pass a POST on once a node has received it, so the client gets that 503.
    const startLine = (await loggedLines()).length;
    const fresh: Created[] = [];
    let refusedCreate: Reply | undefined;
    for (let i = 0; i < 4 && refusedCreate === undefined; i++) {
      const reply = await send('POST', '/tokens/v2/alice', bearer(sk), { scopes: ['styles:tiles'] });
      if (reply.status === 503) refusedCreate = reply;
      else {
        assert.equal(reply.status, 200, reply.body);
        const created = JSON.parse(reply.body) as Created;
        secrets.push(created.token);
        fresh.push(created);
      }
    }
    assert.ok(refusedCreate, 'a create landed on B');
    assert.deepEqual(JSON.parse(refusedCreate.body), { message: 'Service Unavailable' });
    const posts = (await loggedLines()).slice(startLine).filter((line) => line.method === 'POST');
    assert.deepEqual(
      posts.map((line) => line.upstreams.join(' ')),
      posts.map((line) => (line.status === 503 ? hostB : hostA)),
      'each create went to one node only',
    );

    // GETs: a list needs the store, and B has never seen the new tokens, so B answers 503 to
    // both; nginx passes them on to A.
    const token = fresh[0]?.token ?? (await createToken()).token;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push(i % 2 === 0 ? (await send('GET', '/tokens/v2/alice?limit=1', bearer(sk))).status : await check(token));
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      `every GET got 200: ${statuses.join(' ')}`,
    );
    const gets = (await loggedLines()).slice(startLine).filter((line) => line.method === 'GET');
    const retried = gets.filter((line) => line.upstreamStatuses.join(' ') === '503 200');
    console.log(
      `# B without PostgreSQL: ${gets.length} GETs through nginx all 200, ${retried.length} answered 503 by B and retried on A; the create that reached B: 503, not retried`,
    );
    assert.ok(retried.length > 0, 'some GET was answered 503 by B and passed on');
    for (const line of retried) assert.deepEqual(line.upstreams, [hostB, hostA]);

    // B recovers by itself; nginx tries it again once fail_timeout (10 s) has passed.
    proxy.restore();
    await pollDirect(nodeB, 200);
    const started = Date.now();
    for (;;) {
      const reply = await send('GET', '/health');
      assert.equal(reply.status, 200, reply.body);
      const last = (await loggedLines()).at(-1);
      if (last?.upstreams.join(' ') === hostB && last.status === 200) break;
      assert.ok(Date.now() - started < POLL_CAP_MS, 'nginx did not send to B again');
      await sleep(100);
    }
    console.log(`# nginx sent to B again ${((Date.now() - started) / 1000).toFixed(1)} s after B was healthy`);
  });

  it('a node stopped with SIGTERM while requests flow: every GET through nginx still gets 200', async () => {
    const token = (await createToken()).token;
    const startLine = (await loggedLines()).length;
    const statuses: number[] = [];
    let stopped: Promise<unknown> | undefined;
    const total = 50;
    for (let i = 0; i < total; i++) {
      // After 10 requests B is told to stop; the next 40 run while it shuts down and after it exited.
      if (i === 10) stopped = stopServer(nodeB, ['SIGTERM']);
      const reply = i % 2 === 0 ? await send('GET', '/tokens/v2/alice?limit=1', bearer(sk)) : { status: await check(token) };
      statuses.push(reply.status);
    }
    const exit = (await stopped) as { code: number | null };
    assert.equal(exit.code, 0, 'B exited cleanly');
    // And after B has exited, more: a create too (a refused connection was never sent, so nginx
    // may pass even a POST on).
    for (let i = 0; i < 10; i++) statuses.push((await send('GET', '/tokens/v2/alice?limit=1', bearer(sk))).status);
    await createToken();
    statuses.push(200);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      `every answer was 200: ${statuses.join(' ')}`,
    );

    const lines = (await loggedLines(startLine + statuses.length)).slice(startLine);
    const nodeBHost = new URL(nodeB.origin).host;
    const retried = lines.filter((line) => line.upstreams.length > 1);
    const toB = lines.filter((line) => line.upstreams.includes(nodeBHost));
    console.log(`# ${statuses.length} requests across B's SIGTERM: all 200; ${toB.length} tried B, ${retried.length} retried on A`);
    for (const line of retried) assert.equal(line.status, 200);
    assert.ok(toB.length > 0, 'nginx tried B during or after its shutdown');
    assert.ok(
      lines.every((line) => line.status !== 502),
      'no 502',
    );
  });

  it("the nodes see the client's address, not the balancer's nor one the client forged; Link uses the client's host", async () => {
    const honest = await createToken();
    const forged = await createToken({ 'x-forwarded-for': '203.0.113.9', 'x-forwarded-host': 'evil.example' });
    const entries = await cliJson<{ action: string; target: string | null; ip: string | null }[]>(
      ['audit', '--account', 'alice', '--limit', '1000', ...storeArgs({ databaseUrl: schema.url })],
      ENV,
    );
    const creates = entries.filter((entry) => entry.action === 'token.create' && entry.ip !== null);
    assert.ok(creates.length >= 12, `the creates through nginx are audited (${creates.length})`);
    for (const entry of creates) assert.equal(entry.ip, CLIENT, `token.create ${entry.target} recorded ${entry.ip}`);
    assert.ok(creates.some((entry) => entry.target === honest.id));
    assert.ok(creates.some((entry) => entry.target === forged.id));

    const list = await send('GET', '/tokens/v2/alice?limit=1', bearer(sk));
    assert.equal(list.status, 200, list.body);
    const link = /^<([^>]+)>/.exec(String(list.headers.link))?.[1];
    assert.ok(link, 'a Link header');
    assert.equal(new URL(link).host, `127.0.0.1:${nginxPort}`, 'Link points at the balancer, port included');
  });

  it("nginx's logs hold no token", () => {
    for (const log of nginx?.allLogs() ?? []) {
      assert.doesNotMatch(log, /access_token/);
      for (const secret of secrets) assert.ok(!log.includes(secret), `a token is in nginx's logs:\n${log}`);
    }
  });
});

/** Polls a node's own `/health` (not through nginx) until it answers `status`. */
async function pollDirect(node: RunningServer, status: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const res = await fetch(`${node.origin}/health`);
    await res.arrayBuffer();
    if (res.status === status) return;
    assert.ok(Date.now() - started < POLL_CAP_MS, `${node.origin}/health did not answer ${status}`);
    await sleep(20);
  }
}
