/**
 * Regression test, named after the attack: a tenant with maximum-size tokens (100 allowed URLs
 * of 2 KB each) lists its largest page, and every other request waits while ~24 MB are read and
 * serialised on the event loop. SPEC §4.2 lets a page stop once its body passes 1 MiB, with a
 * `Link` to the rest; the work one request does is bounded by that.
 *
 * Timing here is a generous bound on a shared machine, not a benchmark: 100 ms, where a check
 * waits about 30 ms behind one page. Before the fix the check waited for the whole listing, about
 * 1.5 s (0.6 s on today's store with the page budget removed).
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';

const MiB = 1024 * 1024;
const TOKENS = 100;

function bigUrls(i: number): string[] {
  return Array.from({ length: 100 }, (_, j) => `https://h${j}.t${i}.example.com/${'p'.repeat(2000)}`);
}

/** The `Link` URL's path and query, with the token added back (a Link never carries it). */
function nextPath(link: string, token: string): string {
  const next = new URL(/^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? 'http://invalid/');
  return `${next.pathname}${next.search}&access_token=${token}`;
}

describe('attack: one tenant lists its largest page and stalls everyone else', () => {
  let t: TestApp;
  let admin: string;
  let pk: string;

  before(async () => {
    t = await startTestApp();
    await t.account('bulky');
    const grant = await t.app.access.operator('bulky');
    for (let i = 0; i < TOKENS; i++) await t.app.tokens.create(grant, { note: 'n'.repeat(1000), scopes: ['styles:read'], allowedUrls: bigUrls(i) });
    admin = (await t.token('bulky', ['tokens:read'])).token;
    pk = (await t.account('other')).token as string;
  });

  after(() => t.close());

  async function checkMs(): Promise<number> {
    const start = performance.now();
    const res = await t.server.inject({ url: '/auth/v1/check?scope=styles:tiles', headers: { 'x-original-uri': `/t?access_token=${pk}` } });
    assert.equal(res.statusCode, 200);
    return performance.now() - start;
  }

  it('a page stops once its body passes 1 MiB, with a Link to the rest, and the pages cover every token', async () => {
    const seen = new Set<string>();
    let url: string | null = `/tokens/v2/bulky?access_token=${admin}`;
    let pages = 0;
    while (url !== null) {
      const res: Awaited<ReturnType<TestApp['server']['inject']>> = await t.server.inject({ url });
      assert.equal(res.statusCode, 200);
      const body = res.json<Array<{ id: string }>>();
      assert.ok(body.length >= 1);
      // One token is at most ~205 KB: a page passes 1 MiB by less than that.
      assert.ok(Buffer.byteLength(res.body) < MiB + 256 * 1024, `page of ${res.body.length} bytes`);
      for (const token of body) seen.add(token.id);
      const link = res.headers.link;
      url = typeof link === 'string' ? nextPath(link, admin) : null;
      pages++;
    }
    assert.equal(seen.size, TOKENS + 2, 'every token once (the 100, the default pk and the admin sk)');
    assert.ok(pages >= 15, `${pages} pages`);
  });

  /** The slowest of the checks made, one after another, while one largest page is listed. */
  async function worstCheckDuringListing(): Promise<{ worst: number; samples: number }> {
    const listing = t.server.inject({ url: `/tokens/v2/bulky?access_token=${admin}` });
    let done = false;
    void listing.finally(() => {
      done = true;
    });
    const samples: number[] = [];
    while (!done || samples.length < 5) samples.push(await checkMs());
    assert.equal((await listing).statusCode, 200);
    return { worst: Math.max(...samples), samples: samples.length };
  }

  it('a cached forward-auth check answers in under 100 ms while the largest page is listed', async (ctx) => {
    await checkMs();
    // A check waits for the listing's synchronous work, which the page budget bounds (about 30 ms
    // here: reading the rows, serialising them, and inject copying a 1.2 MB body). On a shared
    // host a round can also be descheduled or meet a GC, which only ever lengthens a wait. A build
    // that reads all 24 MB in one request holds every check over half a second in every round
    // (checked: 560-620 ms with no page budget). So: the best of three rounds.
    const rounds: Array<{ worst: number; samples: number }> = [];
    do rounds.push(await worstCheckDuringListing());
    while (rounds.length < 3 && rounds.every((r) => r.worst >= 100));
    const seen = rounds.map((r) => `${r.worst.toFixed(1)} ms over ${r.samples} samples`).join('; ');
    ctx.diagnostic(`worst check per round: ${seen}`);
    assert.ok(
      rounds.some((r) => r.worst < 100),
      `every round had a check over 100 ms: ${seen}`,
    );
  });
});
