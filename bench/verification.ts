/**
 * The verification hot path: in-process verify of a cached pk against the floor of one SHA-256
 * plus one Map.get; `/auth/v1/check` on `tokenbox serve` (its own process, default logger)
 * against a bare Fastify route in its own process; and a flood of malformed strings, forged tks
 * and repeated unknown ids through `serve`, with the store reads the same flood costs the
 * verifier (counted in process, where the directory's counter can be read).
 */
import { hash, randomBytes } from 'node:crypto';
import { newStoredToken, newTokenId, signTemporaryToken } from '../dist/domain/token-format.js';
import { compareInSlices } from './http-load.js';
import type { SideRun } from './load-jobs.js';
import { sliceLoad, type BenchOptions } from './options.js';
import { startBareServer } from './processes.js';
import type { BenchApp } from './setup.js';
import { median } from './stats.js';
import { line, f0, f2 } from './print.js';

/** Store writes usage counting costs: rows and calls for 10,000 verified requests over 20 tokens, one flush. */
export interface UsageWrites {
  readonly requests: number;
  readonly tokens: number;
  readonly rows: number;
  readonly calls: number;
}

/**
 * 10,000 verifications of 20 tokens through the in-process verifier, then one flush, counting
 * what reaches the store's `addUsage` (the method is wrapped on the instance the flusher holds).
 */
async function measureUsageWrites(bench: BenchApp): Promise<UsageWrites> {
  const { app } = bench;
  await app.usage.flush();
  const grant = await app.access.operator('verify');
  const tokens: string[] = [];
  for (let i = 0; i < 20; i++) tokens.push((await app.tokens.create(grant, { scopes: [SCOPE] })).token as string);
  const store = app.store as { addUsage: (batch: readonly unknown[]) => Promise<void> };
  const addUsage = store.addUsage.bind(store);
  let rows = 0;
  let calls = 0;
  store.addUsage = (batch) => {
    rows += batch.length;
    calls++;
    return addUsage(batch);
  };
  const requests = 10_000;
  try {
    for (let i = 0; i < requests; i++) {
      const verdict = await app.verifier.verify(tokens[i % tokens.length], { scope: SCOPE });
      if (!verdict.ok) throw new Error(`usage bench: ${verdict.message}`);
    }
    await app.usage.flush();
  } finally {
    store.addUsage = addUsage;
  }
  return { requests, tokens: tokens.length, rows, calls };
}

export interface VerificationFigures {
  readonly usage: UsageWrites;
  readonly inProcess: { readonly floorNs: number[]; readonly verifyNs: number[]; readonly tkNs: number[]; readonly skNs: number[] };
  /** Per cycle of the sliced run (`SlicedJob`): bare Fastify, valid checks, refusals. */
  readonly bare: SideRun[];
  readonly check: SideRun[];
  /** Lines `serve` logged during the sliced run: checks and refusals, warm-ups included. */
  readonly logLines: number;
  /** Refusals, per cycle of the same run as `check` (its ratio is judged per cycle). */
  readonly flood: {
    readonly runs: SideRun[];
    readonly reads: number;
    readonly readsOver: number;
    readonly distinctUnknown: number;
    readonly kinds: Record<string, number>;
  };
}

const SCOPE = 'styles:tiles';
/** A secret scope (SPEC §1): a token holding it is an sk. */
const SECRET_SCOPE = 'map:read';
const UNKNOWN_IDS = 50;

function timeNs(iterations: number, fn: () => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - start) / iterations;
}

async function timeAsyncNs(iterations: number, fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn();
  return Number(process.hrtime.bigint() - start) / iterations;
}

async function measureInProcess(
  bench: BenchApp,
  tokens: { pk: string; sk: string; tk: string },
  rounds: number,
  iterations: number,
): Promise<VerificationFigures['inProcess']> {
  const { pk, sk, tk } = tokens;
  const { verifier } = bench.app;
  const request = { scope: SCOPE };
  const map = new Map([[hash('sha256', pk, 'base64'), request]]);
  let sink = 0;
  const floor = () => {
    if (map.get(hash('sha256', pk, 'base64')) !== undefined) sink++;
  };
  const verify = async () => {
    if ((await verifier.verify(pk, request)).ok) sink++;
  };
  const verifyTk = async () => {
    if ((await verifier.verify(tk, request)).ok) sink++;
  };
  const skRequest = { scope: SECRET_SCOPE };
  const verifySk = async () => {
    if ((await verifier.verify(sk, skRequest)).ok) sink++;
  };
  timeNs(iterations, floor);
  await timeAsyncNs(iterations, verify);
  await timeAsyncNs(iterations / 4, verifyTk);
  await timeAsyncNs(iterations / 4, verifySk);
  const out = { floorNs: [] as number[], verifyNs: [] as number[], tkNs: [] as number[], skNs: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    out.floorNs.push(timeNs(iterations, floor));
    out.verifyNs.push(await timeAsyncNs(iterations, verify));
    out.tkNs.push(await timeAsyncNs(iterations / 4, verifyTk));
    out.skNs.push(await timeAsyncNs(iterations / 4, verifySk));
  }
  if (sink === 0) throw new Error('nothing verified');
  return out;
}

/** What a successful check answers besides 200 and an empty body: the identity headers. */
const CHECK_HEADERS = { 'cache-control': 'no-store', 'x-tokenbox-user': 'bench', 'x-tokenbox-token-id': 'c000000000000000000000000', 'x-tokenbox-usage': 'pk' };

function floodRequests(
  username: string,
  parent: string,
): { requests: Array<{ method: string; path: string; headers: Record<string, string> }>; tokens: string[]; kinds: Record<string, number> } {
  const nginx = (token: string) => ({
    method: 'GET',
    path: `/auth/v1/check?scope=${SCOPE}`,
    headers: { 'x-original-uri': `/tiles/1/2/3.png?access_token=${encodeURIComponent(token)}` },
  });
  const malformed = [
    'garbage',
    'pk.x.y',
    'pk.abc.def.ghi',
    `sk.${'A'.repeat(5000)}.${'B'.repeat(22)}`,
    'tk.!!!.AAAAAAAAAAAAAAAAAAAAAA',
    `pk.eyJ1IjoiYSJ9.${'A'.repeat(22)}`,
  ];
  const nowS = Math.floor(Date.now() / 1000);
  const forgedKey = randomBytes(32);
  const forged = Array.from({ length: 20 }, (_, i) =>
    signTemporaryToken(forgedKey, { u: username, exp: nowS + 600, iat: nowS - i, scopes: [SCOPE], client: 'api', p: parent }),
  );
  const unknown = Array.from({ length: UNKNOWN_IDS }, () => newStoredToken('pk', username, newTokenId()));
  const tokens = [...malformed, ...forged, ...unknown];
  return { requests: tokens.map(nginx), tokens, kinds: { malformed: malformed.length, 'forged tk': forged.length, 'unknown pk id': unknown.length } };
}

export async function measureVerification(bench: BenchApp, options: BenchOptions): Promise<VerificationFigures> {
  const { app } = bench;
  const created = await app.accounts.create('verify');
  const pk = created.defaultPublicToken.token as string;
  const parent = created.defaultPublicToken.id;
  const nowS = Math.floor(Date.now() / 1000);
  const tk = signTemporaryToken(app.keyring.signingKey().key, { u: 'verify', exp: nowS + 3000, iat: nowS, scopes: [SCOPE], client: 'api', p: parent });
  const grant = await app.access.operator('verify');
  const sk = (await app.tokens.create(grant, { note: 'bench', scopes: [SECRET_SCOPE] })).token as string;
  const inProcess = await measureInProcess(bench, { pk, sk, tk }, options.quick ? 3 : 7, options.quick ? 50_000 : 200_000);
  const usage = await measureUsageWrites(bench);

  const valid = [{ method: 'GET', path: `/auth/v1/check?scope=${SCOPE}`, headers: { 'x-original-uri': `/tiles/1/2/3.png?access_token=${pk}` } }];
  const { requests: floodMix, kinds, tokens } = floodRequests('verify', parent);
  const bareServer = await startBareServer({ checkHeaders: CHECK_HEADERS });
  const logLinesBefore = bench.serve.logLines();
  let runs: Record<'bare' | 'check' | 'flood', SideRun[]>;
  try {
    // One warm generator, the three sides in slices (bare, check, flood, flood, check, bare) for
    // several cycles: each ratio pairs runs seconds apart, judged on its per-cycle median.
    runs = await compareInSlices(
      [
        { name: 'bare', server: bareServer, requests: valid },
        { name: 'check', server: bench.serve, requests: valid },
        { name: 'flood', server: bench.serve, requests: floodMix, status: '401' },
      ],
      sliceLoad(options),
    );
  } finally {
    await bareServer.close();
  }
  const logLines = bench.serve.logLines() - logLinesBefore;
  const { bare, check, flood: floodRuns } = runs;
  // The same flood, 20 times over, through the in-process verifier: how many store reads it costs.
  const readsBefore = app.directory.stats.reads;
  for (let round = 0; round < 20; round++) for (const token of tokens) await app.verifier.verify(token, { scope: SCOPE });
  return {
    inProcess,
    usage,
    bare,
    check,
    logLines,
    flood: { runs: floodRuns, reads: app.directory.stats.reads - readsBefore, readsOver: tokens.length * 20, distinctUnknown: UNKNOWN_IDS, kinds },
  };
}

/** Goals from issue 3. */
export const VERIFY_FLOOR_GOAL = 3;
export const CHECK_RPS_GOAL = 0.85;
export const CHECK_P99_GOAL = 1.3;
export const FLOOD_GOAL = 0.9;

export function printVerification(v: VerificationFigures): boolean[] {
  const ratios = v.inProcess.verifyNs.map((ns, i) => ns / (v.inProcess.floorNs[i] ?? Number.NaN));
  const floorRatio = median(ratios);
  line('4. In-process verification of a cached pk (verifier.verify with a scope), ns per call');
  line(
    `  floor (crypto.hash sha256 base64 + Map.get): ${f0(median(v.inProcess.floorNs))} ns   verify: ${f0(median(v.inProcess.verifyNs))} ns   (medians of ${ratios.length} rounds)`,
  );
  line(`  ratio verify/floor: ${f2(floorRatio)}x  (per round: ${ratios.map(f2).join(', ')})`);
  line(`  for comparison, a tk (HMAC, no store read): ${f0(median(v.inProcess.tkNs))} ns`);
  line(
    `  and a cached sk (secret: its string is never kept, so it is hashed on every call): ${f0(median(v.inProcess.skNs))} ns, ${f2(median(v.inProcess.skNs) / median(v.inProcess.floorNs))}x the floor`,
  );
  line(
    `  usage counting (on, as by default): ${f0(v.usage.requests)} verified requests over ${v.usage.tokens} tokens -> one flush wrote ${v.usage.rows} rows in ${v.usage.calls} store call(s) (goal: at most tokens x flushes = ${v.usage.tokens})`,
  );
  line();
  const rpsRatios = v.check.map((c, i) => c.rps / (v.bare[i]?.rps ?? Number.NaN));
  const p99Ratios = v.check.map((c, i) => c.p99Ms / (v.bare[i]?.p99Ms ?? Number.NaN));
  const rpsRatio = median(rpsRatios);
  const p99Ratio = median(p99Ratios);
  line('5. /auth/v1/check on tokenbox serve (nginx style, cached pk, scope on the auth URL) vs a bare Fastify route answering 200 + the same headers');
  line(
    `  one load generator, warm throughout: ${v.check.length} cycles of 1 s slices (bare, check, refusals, refusals, check, bare); ratios per cycle, judged on their median`,
  );
  line(
    `  bare:     ${f0(median(v.bare.map((b) => b.rps)))} req/s, p99 ${f2(median(v.bare.map((b) => b.p99Ms)))} ms   (cycles: ${v.bare.map((b) => f0(b.rps)).join(', ')})`,
  );
  line(
    `  tokenbox: ${f0(median(v.check.map((c) => c.rps)))} req/s, p99 ${f2(median(v.check.map((c) => c.p99Ms)))} ms   (cycles: ${v.check.map((c) => f0(c.rps)).join(', ')})`,
  );
  line(
    `  server CPU per request: bare ${f0(median(v.bare.map((b) => b.serverCpuUsPerRequest)))} µs, tokenbox ${f0(median(v.check.map((c) => c.serverCpuUsPerRequest)))} µs (ratio bare/tokenbox ${f2(median(v.bare.map((b) => b.serverCpuUsPerRequest)) / median(v.check.map((c) => c.serverCpuUsPerRequest)))}: the throughput ratio if the server alone were the bottleneck); load generator ${f0(median(v.bare.map((b) => b.generatorCpuUsPerRequest)))} µs and ${f0(median(v.check.map((c) => c.generatorCpuUsPerRequest)))} µs`,
  );
  line(
    `  log lines serve wrote during these ${f0(v.check.reduce((n, c) => n + c.responses, 0))} checks and ${f0(v.flood.runs.reduce((n, c) => n + c.responses, 0))} refusals, warm-ups included (default logger): ${v.logLines}`,
  );
  line(
    `  ratio throughput tokenbox/bare: ${f2(rpsRatio)}x (per cycle ${rpsRatios.map(f2).join(', ')});  p99 tokenbox/bare: ${f2(p99Ratio)}x (per cycle ${p99Ratios.map(f2).join(', ')})`,
  );
  line();
  const floodRatios = v.flood.runs.map((f, i) => f.rps / (v.check[i]?.rps ?? Number.NaN));
  const floodRatio = median(floodRatios);
  line(
    `6. Flood of refusals through /auth/v1/check: ${Object.entries(v.flood.kinds)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}, cycled`,
  );
  line(
    `  ${f0(median(v.flood.runs.map((f) => f.rps)))} refusals/s (all 401), p99 ${f2(median(v.flood.runs.map((f) => f.p99Ms)))} ms   (cycles: ${v.flood.runs.map((f) => f0(f.rps)).join(', ')})`,
  );
  line(`  ratio to the valid-token rate, same cycle: ${f2(floodRatio)}x (per cycle ${floodRatios.map(f2).join(', ')})`);
  line(
    `  CPU per request: server ${f0(median(v.flood.runs.map((f) => f.serverCpuUsPerRequest)))} µs a refusal, ${f0(median(v.check.map((c) => c.serverCpuUsPerRequest)))} µs a valid check; load generator ${f0(median(v.flood.runs.map((f) => f.generatorCpuUsPerRequest)))} µs and ${f0(median(v.check.map((c) => c.generatorCpuUsPerRequest)))} µs`,
  );
  line(
    `  store reads for the same flood through the verifier (in process): ${v.flood.reads} for ${f0(v.flood.readsOver)} verifications (${v.flood.distinctUnknown} distinct unknown ids: at most one read each, then none)`,
  );
  line();
  const met = [
    v.usage.rows <= v.usage.tokens,
    floorRatio <= VERIFY_FLOOR_GOAL,
    rpsRatio >= CHECK_RPS_GOAL,
    p99Ratio <= CHECK_P99_GOAL,
    floodRatio >= FLOOD_GOAL,
    v.flood.reads <= v.flood.distinctUnknown,
  ];
  line('Goals (verification)');
  line(`  usage store rows <= tokens x flushes: ${v.usage.rows} <= ${v.usage.tokens}  ${met[0] ? 'MET' : 'MISSED'}`);
  line(`  verify <= ${VERIFY_FLOOR_GOAL}x the floor: ${f2(floorRatio)}x  ${met[1] ? 'MET' : 'MISSED'}`);
  line(`  /auth/v1/check >= ${CHECK_RPS_GOAL}x bare throughput: ${f2(rpsRatio)}x  ${met[2] ? 'MET' : 'MISSED'}`);
  line(`  /auth/v1/check p99 <= ${CHECK_P99_GOAL}x bare: ${f2(p99Ratio)}x  ${met[3] ? 'MET' : 'MISSED'}`);
  line(`  refusals >= ${FLOOD_GOAL}x the valid rate: ${f2(floodRatio)}x  ${met[4] ? 'MET' : 'MISSED'}`);
  line(`  store reads <= one per unknown id: ${v.flood.reads} <= ${v.flood.distinctUnknown}  ${met[5] ? 'MET' : 'MISSED'}`);
  return met;
}
