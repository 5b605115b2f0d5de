/**
 * Many machines (issue 11), each figure on SQLite and on PostgreSQL in the same run:
 *
 * - Revocation propagation: two `tokenbox serve` nodes on one store. A token is verified through
 *   node B (so B caches it), deleted through node A's Tokens API after a random pause (0–50 ms,
 *   seeded), and B is asked again and again until it refuses; the time from A's 204 to B's first
 *   401, over 200 deletes (50 with --quick). On
 *   PostgreSQL, NOTIFY wakes B; on SQLite, B's 50 ms poll finds the change. Goal: p99 < 100 ms.
 * - Warm-cache `/auth/v1/check` throughput, a serve over PostgreSQL against one over SQLite,
 *   in alternating slices (bench/http-load.ts, compareInSlices). Goal: PostgreSQL at least 0.95x SQLite.
 * - Cold-cache verification: one request per token the node has never seen (one store read
 *   each), one at a time; p50 and p99.
 * - Creates per second through the API on PostgreSQL (SQLite's figure is section 1).
 *
 * PostgreSQL is the tests' server (TOKENBOX_TEST_DATABASE_URL, else 127.0.0.1:5432/test); the
 * run works in a schema of its own, dropped at the end. Without PostgreSQL the section says so and is skipped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { measureCreates, type CreatesFigures } from './creates.js';
import { compareInSlices } from './http-load.js';
import type { SideRun } from './load-jobs.js';
import { sliceLoad, type BenchOptions } from './options.js';
import { startShippedServe } from './processes.js';
import { startBenchApp, type BenchApp } from './setup.js';
import { median, summarize, type LatencySummary } from './stats.js';
import { line, f0, f2 } from './print.js';
import { createTestSchema, postgresMissing, type TestSchema } from '../test/helpers/postgres.js';

export const PROPAGATION_GOAL_P99_MS = 100;
export const WARM_RATIO_GOAL = 0.95;
const SCOPE = 'styles:tiles';
/** A delete not seen by the other node within this long counts as a failure of the run. */
const PROPAGATION_CAP_MS = 5_000;

type Rounds = SideRun[];

export interface BackendFigures {
  readonly propagation: LatencySummary;
  readonly cold: LatencySummary;
}

export type ClusterFigures =
  | { readonly skipped: string }
  | {
      readonly revocations: number;
      readonly sqlite: BackendFigures;
      readonly postgres: BackendFigures;
      readonly warm: { readonly sqlite: Rounds; readonly postgres: Rounds };
      readonly creates: CreatesFigures;
    };

/** A fresh schema on the bench's PostgreSQL (the tests' server and helper), or why there is none. */
async function benchSchema(): Promise<TestSchema | { skipped: string }> {
  const missing = await postgresMissing();
  return missing === null ? createTestSchema() : { skipped: missing };
}

/** The answer of `/auth/v1/check` for one token, as a forward-auth proxy would ask. */
async function check(origin: string, token: string): Promise<number> {
  const response = await fetch(`${origin}/auth/v1/check?scope=${SCOPE}`, { headers: { 'x-original-uri': `/tiles/1/2/3.pbf?access_token=${token}` } });
  await response.arrayBuffer();
  return response.status;
}

/** Creates `count` pk tokens holding SCOPE in `username`'s account (in process); their ids and strings. */
async function seedTokens(bench: BenchApp, username: string, count: number): Promise<Array<{ id: string; token: string }>> {
  const grant = await bench.app.access.operator(username);
  const made: Array<{ id: string; token: string }> = [];
  for (let i = 0; i < count; i++) {
    const created = await bench.app.tokens.create(grant, { note: 'cluster', scopes: [SCOPE] });
    made.push({ id: created.id, token: created.token as string });
  }
  return made;
}

/**
 * Node A is the bench's own `serve`; node B a second `serve` on the same store. Each target is
 * checked through B (cached there), deleted through A, then B is asked until it refuses.
 */
async function measurePropagation(bench: BenchApp, count: number): Promise<LatencySummary> {
  const nodeB = await startShippedServe(bench.where, bench.secret);
  try {
    const sk = await bench.accountWithSecretToken('revoker', ['tokens:write', SCOPE]);
    const targets = await seedTokens(bench, 'revoker', count);
    const samples: number[] = [];
    // Deletes land at random points of B's 50 ms poll (SQLite): one right after B saw the last
    // would otherwise always wait a whole period. Seeded (fast-check's generator), so runs compare.
    const pause = fc.sample(fc.integer({ min: 0, max: 50 }), { seed: 11, numRuns: targets.length });
    for (const [i, target] of targets.entries()) {
      await sleep(pause[i] ?? 0);
      if ((await check(nodeB.origin, target.token)) !== 200) throw new Error('propagation: node B refused a live token');
      const deleted = await fetch(`${bench.origin}/tokens/v2/revoker/${target.id}?access_token=${sk}`, { method: 'DELETE' });
      if (deleted.status !== 204) throw new Error(`propagation: the delete through node A answered ${deleted.status}`);
      const acknowledged = performance.now();
      for (;;) {
        const status = await check(nodeB.origin, target.token);
        const elapsed = performance.now() - acknowledged;
        if (status === 401) {
          samples.push(elapsed);
          break;
        }
        if (status !== 200 || elapsed > PROPAGATION_CAP_MS) throw new Error(`propagation: node B still answered ${status} after ${elapsed.toFixed(0)} ms`);
      }
    }
    return summarize(samples);
  } finally {
    await nodeB.close();
  }
}

/** One request per token a fresh node has never seen, one at a time: each is a store read. */
async function measureCold(bench: BenchApp, count: number): Promise<LatencySummary> {
  await bench.app.accounts.create('cold');
  const targets = await seedTokens(bench, 'cold', count);
  const node = await startShippedServe(bench.where, bench.secret);
  try {
    const samples: number[] = [];
    for (const target of targets) {
      const started = performance.now();
      const status = await check(node.origin, target.token);
      samples.push(performance.now() - started);
      if (status !== 200) throw new Error(`cold: answered ${status}`);
    }
    return summarize(samples);
  } finally {
    await node.close();
  }
}

/** A pk of a new account on each store, for the warm-cache comparison. */
async function warmToken(bench: BenchApp): Promise<string> {
  return (await bench.app.accounts.create('warm')).defaultPublicToken.token as string;
}

export async function measureCluster(sqlite: BenchApp, options: BenchOptions, progress: (text: string) => void): Promise<ClusterFigures> {
  const schema = await benchSchema();
  if ('skipped' in schema) return schema;
  const revocations = options.quick ? 50 : 200;
  const coldCount = options.quick ? 200 : 1_000;
  const postgres = await startBenchApp(schema.url, sqlite.secret);
  try {
    progress(`revocation across two nodes: ${revocations} deletes on SQLite, then on PostgreSQL`);
    const sqlitePropagation = await measurePropagation(sqlite, revocations);
    const postgresPropagation = await measurePropagation(postgres, revocations);
    progress(`cold-cache verification: ${coldCount} unseen tokens, one at a time, on each store`);
    const sqliteCold = await measureCold(sqlite, coldCount);
    const postgresCold = await measureCold(postgres, coldCount);
    progress(`warm-cache /auth/v1/check, PostgreSQL vs SQLite (${options.cycles} cycles of ${options.sliceS} s slices)`);
    const tokens = { sqlite: await warmToken(sqlite), postgres: await warmToken(postgres) };
    const checks = (token: string) => [
      { method: 'GET', path: `/auth/v1/check?scope=${SCOPE}`, headers: { 'x-original-uri': `/tiles/1/2/3.pbf?access_token=${token}` } },
    ];
    const warm = await compareInSlices(
      [
        { name: 'sqlite', server: sqlite.serve, requests: checks(tokens.sqlite) },
        { name: 'postgres', server: postgres.serve, requests: checks(tokens.postgres) },
      ],
      sliceLoad(options),
    );
    progress('creates on PostgreSQL');
    const creates = await measureCreates(postgres, options, 'pg-writer');
    return {
      revocations,
      sqlite: { propagation: sqlitePropagation, cold: sqliteCold },
      postgres: { propagation: postgresPropagation, cold: postgresCold },
      warm,
      creates,
    };
  } finally {
    await postgres.close();
    await schema.drop();
  }
}

const ms = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(1));

export function printCluster(c: ClusterFigures): boolean {
  line('10. Many machines: two serve nodes on one store; PostgreSQL vs SQLite (each its own process)');
  if ('skipped' in c) {
    line(`  skipped: ${c.skipped}`);
    return false;
  }
  for (const [name, f] of [
    ['SQLite    ', c.sqlite],
    ['PostgreSQL', c.postgres],
  ] as const) {
    line(
      `  ${name} revocation A→B over ${c.revocations} deletes: p50 ${ms(f.propagation.p50)} ms, p99 ${ms(f.propagation.p99)} ms, max ${ms(f.propagation.max)} ms`,
    );
  }
  for (const [name, f] of [
    ['SQLite    ', c.sqlite],
    ['PostgreSQL', c.postgres],
  ] as const) {
    line(`  ${name} cold-cache check over ${f.cold.count} unseen tokens: p50 ${ms(f.cold.p50)} ms, p99 ${ms(f.cold.p99)} ms`);
  }
  const ratios = c.warm.postgres.map((r, i) => r.rps / (c.warm.sqlite[i]?.rps ?? Number.NaN));
  const ratio = median(ratios);
  line(`  warm-cache check: SQLite ${f0(median(c.warm.sqlite.map((r) => r.rps)))} req/s, PostgreSQL ${f0(median(c.warm.postgres.map((r) => r.rps)))} req/s`);
  line(
    `    server CPU per check: SQLite ${f0(median(c.warm.sqlite.map((r) => r.serverCpuUsPerRequest)))} µs, PostgreSQL ${f0(median(c.warm.postgres.map((r) => r.serverCpuUsPerRequest)))} µs (less sensitive to the machine's other work than req/s)`,
  );
  line(
    `  creates on PostgreSQL: ${f0(c.creates.rps)} /s (mean latency ${ms(c.creates.latencyMeanMs)} ms, server CPU ${f0(c.creates.cpuUsPerRequest)} µs/request)`,
  );
  const propagationMet = c.postgres.propagation.p99 < PROPAGATION_GOAL_P99_MS;
  const warmMet = ratio >= WARM_RATIO_GOAL;
  line(`  revocation p99 on PostgreSQL < ${PROPAGATION_GOAL_P99_MS} ms: ${ms(c.postgres.propagation.p99)} ms  ${propagationMet ? 'MET' : 'MISSED'}`);
  line(`  warm PostgreSQL >= ${WARM_RATIO_GOAL}x SQLite: ${f2(ratio)}x (per cycle ${ratios.map(f2).join(', ')})  ${warmMet ? 'MET' : 'MISSED'}`);
  return propagationMet && warmMet;
}
