/**
 * Property: random hostile requests (over 10,000) against the real `tokenbox serve` process, with
 * its default logger, on a store seeded through the CLI. Three properties hold for every request:
 *
 * 1. The answer keeps the wire rules: never a 5xx (503 included: the store is up), never a 3xx;
 *    every 4xx is JSON `{message}`; forward auth refuses with `X-Tokenbox-Status` and
 *    `X-Tokenbox-Message` (any method Node's parser accepts) and accepts with an empty body naming
 *    a live token of the request; no 2xx on a protected route without a live token in it.
 * 2. The log never holds a token-shaped string (`(pk|sk|tk).<payload>.<22>`, also after
 *    percent-decoding) nor the secret of any seeded token: checked after every request (a probe
 *    request is sent and awaited in the log, so the check covers exactly what was logged so far),
 *    and over the whole log once `serve` has shut down.
 * 3. The store is unchanged: every row of `accounts`, `tokens`, `token_changes` and
 *    `signing_keys`, read from the SQLite file after every request and at the end. Requests that
 *    could legitimately write are left out by `mayChangeStore` (see `helpers/hostile-oracle.ts`
 *    for the rule): real write-capable sks still appear, with bodies, ids or accounts that must
 *    fail; every other token, tks included, may send anything. `last_used` may only move forward
 *    (usage counting, SPEC §5).
 *
 * Requests go one at a time in the per-request properties, so a failure shrinks to one request
 * and the log and store checks blame exactly it; the burst property sends up to 16 at once.
 * Seeded: FC_SEED / FC_PATH replay a failure (the message prints the command).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { ensureBuilt } from './helpers/cli.js';
import { findLeaks, judgeReply, leakingLines, mayChangeStore, type Reply } from './helpers/hostile-oracle.js';
import { hostileRequest, type Focus, type HostileRequest } from './helpers/hostile-requests.js';
import { diffSnapshots, startHostileServer, type HostileServer, type Snapshot } from './helpers/hostile-server.js';
import { assertReplayable } from './helpers/property-runs.js';

const FILE = 'test/property-hostile.test.ts';

describe('hostile requests against tokenbox serve', () => {
  let h: HostileServer;
  let baseline: Snapshot;
  /** The store as the previous request left it. */
  let current: Snapshot;
  let probes = 0;
  /** Everything sent, for blaming a leak found in the final log. */
  const sent: string[] = [];

  before(async () => {
    ensureBuilt();
    h = await startHostileServer();
    baseline = h.snapshot();
    current = baseline;
  });

  after(async () => {
    await h?.close();
  });

  /** Sends a probe and waits for it in the log: everything logged before it is then in `log()`. */
  async function logSince(): Promise<string> {
    const marker = `/__hostile-probe__/${++probes}`;
    const res = await h.send('GET', marker, {});
    assert.equal(res.status, 404, `the log probe ${marker} answered ${res.status}`);
    return h.logThrough(`${marker}"`);
  }

  function storeProblems(): string[] {
    const now = h.snapshot();
    const problems = diffSnapshots(current, now);
    current = now;
    return problems.map((p) => `store changed: ${p}`);
  }

  function describeReply(res: Reply): string {
    const body = res.body.length > 300 ? `${res.body.slice(0, 300)}…` : res.body;
    const headers = Object.entries(res.headers)
      .filter(([k]) => k.startsWith('x-tokenbox') || ['content-type', 'cache-control'].includes(k))
      .map(([k, v]) => `${k}: ${String(v)}`);
    return `${res.status} ${body} [${headers.join(' | ')}]`;
  }

  async function exchange(req: HostileRequest): Promise<{ res: Reply | null; problems: string[] }> {
    sent.push(String(req[fc.toStringMethod]()));
    try {
      const res = await h.send(req.method, req.path, req.headers, req.body);
      return { res, problems: judgeReply(req, res) };
    } catch (error) {
      const alive = h.server.proc.exitCode === null && h.server.proc.signalCode === null;
      return { res: null, problems: [`no answer (${(error as Error).message}); serve is ${alive ? 'still running' : 'gone'}`] };
    }
  }

  /** One request, then every check; throws with everything that went wrong. */
  async function exercise(req: HostileRequest): Promise<void> {
    const { res, problems } = await exchange(req);
    problems.push(...storeProblems());
    const leaks = findLeaks(await logSince(), h.world);
    if (leaks.length) problems.push(`the log holds ${leaks.join('; ')}`);
    if (problems.length) throw new Error(`${problems.join('\n')}\nanswer: ${res ? describeReply(res) : 'none'}`);
  }

  async function runRequests(t: TestContext, name: string, focus: Focus, numRuns: number, seedOffset: number): Promise<void> {
    const started = performance.now();
    const before = sent.length;
    const requests = hostileRequest(h.world, focus).filter((r) => !mayChangeStore(r, h.world));
    try {
      await assertReplayable(fc.asyncProperty(requests, exercise), { name, file: FILE, numRuns, seedOffset });
    } finally {
      t.diagnostic(`${sent.length - before} requests in ${Math.round(performance.now() - started)} ms`);
    }
  }

  it('API routes: any method, path, query, header and body', (t) => runRequests(t, 'API routes', 'api', 4_000, 1));

  it('forward auth: any method, original URI and token placement', (t) => runRequests(t, 'forward auth', 'forward-auth', 3_000, 2));

  it('writes: POST, PATCH and DELETE with real, forged and temporary tokens', (t) => runRequests(t, 'writes', 'writes', 3_000, 3));

  it('bursts: up to 16 requests in flight at once', async (t) => {
    const started = performance.now();
    const before = sent.length;
    const one = fc
      .oneof(hostileRequest(h.world, 'api'), hostileRequest(h.world, 'forward-auth'), hostileRequest(h.world, 'writes'))
      .filter((r) => !mayChangeStore(r, h.world));
    const burst = async (batch: HostileRequest[]) => {
      const results = await Promise.all(batch.map(exchange));
      const problems = results.flatMap(({ res, problems: p }, i) => p.map((x) => `request ${i}: ${x}\n  answer: ${res ? describeReply(res) : 'none'}`));
      problems.push(...storeProblems());
      const leaks = findLeaks(await logSince(), h.world);
      if (leaks.length) problems.push(`the log holds ${leaks.join('; ')}`);
      if (problems.length) throw new Error(problems.join('\n'));
    };
    try {
      await assertReplayable(fc.asyncProperty(fc.array(one, { minLength: 1, maxLength: 16 }), burst), {
        name: 'bursts',
        file: FILE,
        numRuns: 150,
        seedOffset: 4,
      });
    } finally {
      t.diagnostic(`${sent.length - before} requests in ${Math.round(performance.now() - started)} ms`);
    }
  });

  it('the store after the run is the seeded store, row for row', () => {
    assert.deepEqual(diffSnapshots(baseline, h.snapshot()), []);
  });

  it('the whole log, after a graceful shutdown, holds no token', async () => {
    await h.stop();
    const lines = leakingLines(h.log(), h.world);
    const blame = (line: string) => {
      const shapes = [...line.matchAll(/(?:pk|sk|tk)\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}/g)].map((m) => m[0]);
      const culprit = sent.find((s) => shapes.some((x) => s.includes(x)));
      return culprit ? `\n  sent by: ${culprit}` : '';
    };
    assert.equal(
      lines.length,
      0,
      `${lines.length} log lines hold a token:\n${lines
        .slice(0, 5)
        .map((l) => `${l}${blame(l)}`)
        .join('\n')}`,
    );
  });
});
