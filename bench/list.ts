/**
 * List latency on a 100,000-token account: the first page against the last, over HTTP (one
 * request at a time from the load-generator process) and in process (`TokensService.list`).
 * Keyset pagination should make both pages cost the same.
 */
import type { Tokenbox } from '../dist/main.js';
import type { ListTokensInput } from '../dist/services/tokens-service.js';
import { measureLatency } from './http-load.js';
import type { BenchOptions } from './options.js';
import { seedTokens } from './seed.js';
import type { BenchApp } from './setup.js';
import { summarize, type LatencySummary } from './stats.js';

const PAGE = 100;

export interface BigAccount {
  readonly username: string;
  readonly sk: string;
  readonly total: number;
  readonly pages: number;
  /** The `start` cursor that the next-to-last page's `Link` hands out: it opens the last page. */
  readonly lastPageStart: string;
  readonly seedMs: number;
  readonly walkMs: number;
}

export interface ListFigures {
  readonly http: { readonly first: LatencySummary; readonly last: LatencySummary };
  readonly service: { readonly first: LatencySummary; readonly last: LatencySummary };
}

/** Makes the account, seeds it, and walks every page through the service to find the last one. */
export async function prepareBigAccount(bench: BenchApp, options: BenchOptions, username: string): Promise<BigAccount> {
  const sk = await bench.accountWithSecretToken(username, ['tokens:read', 'tokens:write']);
  const seedStart = performance.now();
  // The default token and the sk count towards the total.
  seedTokens(bench.app, username, options.bigAccountTokens - 2, Date.now() - 1000);
  const seedMs = performance.now() - seedStart;
  const walkStart = performance.now();
  const walk = await walkPages(bench.app, username);
  const walkMs = performance.now() - walkStart;
  if (walk.total !== options.bigAccountTokens) {
    throw new Error(`seeded account lists ${walk.total} tokens, expected ${options.bigAccountTokens}`);
  }
  return { username, sk, total: walk.total, pages: walk.pages, lastPageStart: walk.lastPageStart, seedMs, walkMs };
}

/**
 * Follows `next` from the first page to the last with limit=100. Every pk on every page is
 * unsealed on the way (the token view shows pk strings), so a bad seeded row fails here.
 */
async function walkPages(app: Tokenbox, username: string): Promise<{ total: number; pages: number; lastPageStart: string }> {
  const grant = await app.access.operator(username);
  let start: string | undefined;
  let lastPageStart: string | undefined;
  let total = 0;
  let pages = 0;
  for (;;) {
    const page = await app.tokens.list(grant, { sortBy: 'created', limit: PAGE, ...(start !== undefined && { start }) });
    total += page.tokens.length;
    pages++;
    if (page.next === null) break;
    lastPageStart = page.next;
    start = page.next;
  }
  if (lastPageStart === undefined) throw new Error('the account has a single page');
  return { total, pages, lastPageStart };
}

/** Checks both URLs answer a full page, the first with a `Link`, the last without. */
async function checkPages(firstUrl: string, lastUrl: string): Promise<void> {
  for (const [url, wantLink] of [
    [firstUrl, true],
    [lastUrl, false],
  ] as const) {
    const res = await fetch(url);
    const body = (await res.json()) as unknown[];
    const hasLink = res.headers.get('link') !== null;
    if (res.status !== 200 || body.length !== PAGE || hasLink !== wantLink) {
      throw new Error(`list check failed: status ${res.status}, ${body.length} tokens, link ${hasLink}`);
    }
  }
}

async function serviceLatency(app: Tokenbox, account: BigAccount, options: BenchOptions): Promise<ListFigures['service']> {
  const grant = await app.access.operator(account.username);
  const first: ListTokensInput = { sortBy: 'created', limit: PAGE };
  const last: ListTokensInput = { ...first, start: account.lastPageStart };
  const samples = { first: [] as number[], last: [] as number[] };
  for (let round = 0; round < options.listWarmupRounds + options.listRounds; round++) {
    for (const key of ['first', 'last'] as const) {
      const start = process.hrtime.bigint();
      await app.tokens.list(grant, key === 'first' ? first : last);
      if (round >= options.listWarmupRounds) samples[key].push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
  return { first: summarize(samples.first), last: summarize(samples.last) };
}

export async function measureList(bench: BenchApp, options: BenchOptions, account: BigAccount): Promise<ListFigures> {
  const base = `${bench.origin}/tokens/v2/${account.username}?access_token=${account.sk}&limit=${PAGE}`;
  const firstUrl = base;
  const lastUrl = `${base}&start=${encodeURIComponent(account.lastPageStart)}`;
  await checkPages(firstUrl, lastUrl);
  const result = await measureLatency({
    urls: [firstUrl, lastUrl],
    warmupRounds: options.listWarmupRounds,
    rounds: options.listRounds,
  });
  const [first = [], last = []] = result.samplesMs;
  const service = await serviceLatency(bench.app, account, options);
  return { http: { first: summarize(first), last: summarize(last) }, service };
}
