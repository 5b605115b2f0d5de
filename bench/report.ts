/** Prints the figures, the ratios and the goals. Plain text on stdout. */
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import type { CreatesFigures } from './creates.js';
import type { BigAccount, ListFigures } from './list.js';
import type { BenchOptions } from './options.js';
import type { RetrieveFigures } from './retrieve.js';
import { SERVE_LIMITS } from './processes.js';
import { BENCH_FLAGS } from './setup.js';
import { fmtInt, fmtMs, fmtRatio, median, type LatencySummary } from './stats.js';
import { line } from './print.js';

/** Goals from the brief: retrieve at least 0.8× bare Fastify; the last page about as fast as the first. */
export const RETRIEVE_GOAL = 0.8;
/** "About the same": the last page's p50 within 25 % of the first's. */
export const LAST_PAGE_TOLERANCE = 1.25;

export interface Figures {
  readonly creates: CreatesFigures;
  readonly big: BigAccount;
  readonly list: ListFigures;
  readonly retrieve: RetrieveFigures;
  readonly probe: ReadonlyArray<{ readonly size: number; readonly cost: LatencySummary }>;
}

/** Which code ran: the commit, and whether src/ had uncommitted changes (others edit it). */
function codeVersion(): string {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', 'src').length > 0;
    return `commit ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted changes in src/' : ''}`;
  } catch {
    return 'unknown (no git)';
  }
}

/** The 1-minute load average: other work on this 2-core machine skews every figure. */
export function loadLine(when: string): string {
  return `load average ${when}: ${loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')} (1/5/15 min)`;
}

export function printHeader(options: BenchOptions): void {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  line(`tokenbox benchmark${options.quick ? ' (--quick: a smoke run, figures are noisy)' : ''}`);
  line(`code:    ${codeVersion()}`);
  line(
    `machine: ${availableParallelism()} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, ${process.platform}/${process.arch}`,
  );
  line('setup:   `tokenbox serve` from dist/cli/bin.js in its own process, default logger (stdout drained), SQLite file in a temp dir;');
  line(
    '         the yardstick: bare Fastify (no logger) in its own process; tokenbox in this process on the same data dir seeds and runs the in-process figures;',
  );
  line(`         load generator (autocannon, ${options.connections} connections; latency: 1 keep-alive connection) in a separate process`);
  line(`         ${loadLine('at start')}`);
  line(
    `config:  defaults, except accountRateLimit=${BENCH_FLAGS.accountRateLimit} (so no request is a 429) and maxTokensPerAccount=${fmtInt(BENCH_FLAGS.maxTokensPerAccount)} (env: ${Object.entries(
      SERVE_LIMITS,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')})`,
  );
  line();
}

function latencyRow(label: string, s: LatencySummary): string {
  return `  ${label.padEnd(12)} p50 ${fmtMs(s.p50).padStart(7)} ms   p99 ${fmtMs(s.p99).padStart(7)} ms   mean ${fmtMs(s.mean).padStart(7)} ms   (n=${s.count})`;
}

export function printFigures(options: BenchOptions, f: Figures): { retrieveMet: boolean; listMet: boolean } {
  const { creates, big, list, retrieve, probe } = f;
  line('1. Creates through the API (POST /tokens/v2/:user, a pk with 2 scopes, fresh account)');
  line(
    `  ${fmtInt(creates.rps)} creates/s   (${fmtInt(creates.created)} in ${creates.durationS.toFixed(2)} s, mean latency ${fmtMs(creates.latencyMeanMs)} ms at ${options.connections} connections;`,
  );
  line(`    server CPU ${fmtInt(creates.cpuUsPerRequest)} µs/request; the account grew from 2 to ${fmtInt(creates.accountSize)} tokens, warm-up included)`);
  line('  create cost vs account size (in process, TokensService.create, one at a time):');
  for (const { size, cost } of probe) {
    line(`    at ${fmtInt(size).padStart(7)} tokens: p50 ${fmtMs(cost.p50)} ms, p99 ${fmtMs(cost.p99)} ms  (≈ ${fmtInt(1000 / cost.p50)}/s)`);
  }
  line();

  line(`2. List latency, limit=100, account of ${fmtInt(big.total)} tokens (${fmtInt(big.pages)} pages)`);
  line(`  seeded in ${(big.seedMs / 1000).toFixed(1)} s in one SQLite transaction (rather than 100,000 separate inserts);`);
  line(`  every page walked through TokensService.list in ${(big.walkMs / 1000).toFixed(1)} s`);
  line(' over HTTP (GET /tokens/v2/:user, one request at a time, first and last alternating):');
  line(latencyRow('first page', list.http.first));
  line(latencyRow('last page', list.http.last));
  const httpRatio = list.http.last.p50 / list.http.first.p50;
  line(`  ratio last/first: p50 ${fmtRatio(httpRatio)}, p99 ${fmtRatio(list.http.last.p99 / list.http.first.p99)}`);
  line(' in process (TokensService.list: SQLite keyset query + token view, no HTTP):');
  line(latencyRow('first page', list.service.first));
  line(latencyRow('last page', list.service.last));
  const serviceRatio = list.service.last.p50 / list.service.first.p50;
  line(`  ratio last/first: p50 ${fmtRatio(serviceRatio)}, p99 ${fmtRatio(list.service.last.p99 / list.service.first.p99)}`);
  line();

  const { bare, bareWithHeaders: bareH, tokenbox: tb } = retrieve;
  const ratio = tb.rps / bare.rps;
  line(`3. Retrieve (GET /tokens/v2?access_token=<sk>) vs bare Fastify (same path, ${retrieve.bodyBytes}-byte JSON body)`);
  const sides = [
    ['bare Fastify', bare],
    ['bare + headers', bareH],
    ['tokenbox', tb],
  ] as const;
  for (const [label, side] of sides) {
    line(`  ${`${label}:`.padEnd(16)}${fmtInt(side.rps).padStart(7)} req/s  (rounds: ${side.rounds.map(fmtInt).join(', ')})`);
    line(`  ${''.padEnd(16)}CPU per request: server ${fmtInt(side.cpuUsPerRequest)} µs, load generator ${fmtInt(side.clientCpuUsPerRequest)} µs`);
  }
  const roundRatios = tb.rounds.map((t, i) => t / (bare.rounds[i] ?? Number.NaN));
  const pairedRatio = median(roundRatios);
  line(
    `  ratio tokenbox/bare: ${fmtRatio(pairedRatio)} (median of the per-round ratios ${roundRatios.map(fmtRatio).join(', ')}; all rounds pooled: ${fmtRatio(ratio)})`,
  );
  line(`  server CPU ratio bare/tokenbox: ${fmtRatio(bare.cpuUsPerRequest / tb.cpuUsPerRequest)}  (the req/s ratio if the server alone were the bottleneck)`);
  line(`  diagnostic: bare + tokenbox's ${retrieve.headerNames.length} extra response headers (${retrieve.headerNames.join(', ')})`);
  line(`    reaches ${fmtRatio(bareH.rps / bare.rps)}x bare; tokenbox reaches ${fmtRatio(tb.rps / bareH.rps)}x that`);
  line();

  const retrieveMet = pairedRatio >= RETRIEVE_GOAL;
  const listMet = httpRatio <= LAST_PAGE_TOLERANCE && serviceRatio <= LAST_PAGE_TOLERANCE;
  line('Goals');
  line(`  retrieve >= ${RETRIEVE_GOAL}x bare Fastify (median per-round ratio): ${fmtRatio(pairedRatio)}x  ${retrieveMet ? 'MET' : 'MISSED'}`);
  line(
    `  last page ≈ first page (p50 ratio <= ${LAST_PAGE_TOLERANCE}): HTTP ${fmtRatio(httpRatio)}, in process ${fmtRatio(serviceRatio)}  ${listMet ? 'MET' : 'MISSED'}`,
  );
  return { retrieveMet, listMet };
}
