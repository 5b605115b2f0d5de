/**
 * What metrics cost the hot path (issue 10): `/auth/v1/check` on `tokenbox serve` with
 * `metricsPort` set against the same `serve` without it, each in its own process on the same data
 * directory, in alternating slices. Goal: at least 0.97× the throughput with metrics off.
 */
import { compareInSlices } from './http-load.js';
import type { SideRun } from './load-jobs.js';
import { sliceLoad, type BenchOptions } from './options.js';
import { freePort, startShippedServe } from './processes.js';
import type { BenchApp } from './setup.js';
import { median } from './stats.js';
import { line, f0, f2 } from './print.js';

export const METRICS_GOAL = 0.97;

export interface MetricsFigures {
  readonly off: SideRun[];
  readonly on: SideRun[];
}

export async function measureMetricsCost(bench: BenchApp, options: BenchOptions): Promise<MetricsFigures> {
  const off = await startShippedServe(bench.dataDir, bench.secret);
  const on = await startShippedServe(bench.dataDir, bench.secret, undefined, { TOKENBOX_METRICS_PORT: String(await freePort()) });
  const created = await bench.app.accounts.create('metrics');
  const pk = created.defaultPublicToken.token as string;
  const requests = [{ method: 'GET', path: '/auth/v1/check?scope=styles:tiles', headers: { 'x-original-uri': `/tiles/1/2/3.pbf?access_token=${pk}` } }];
  try {
    return await compareInSlices(
      [
        { name: 'off', server: off, requests },
        { name: 'on', server: on, requests },
      ],
      sliceLoad(options),
    );
  } finally {
    await on.close();
    await off.close();
  }
}

export function printMetricsCost(m: MetricsFigures): boolean {
  const ratios = m.on.map((r, i) => r.rps / (m.off[i]?.rps ?? Number.NaN));
  const ratio = median(ratios);
  line('8. /auth/v1/check on tokenbox serve with metricsPort set vs without (same data, each its own process)');
  line(`  off: ${f0(median(m.off.map((r) => r.rps)))} req/s, server CPU ${f0(median(m.off.map((r) => r.serverCpuUsPerRequest)))} µs/request`);
  line(`  on:  ${f0(median(m.on.map((r) => r.rps)))} req/s, server CPU ${f0(median(m.on.map((r) => r.serverCpuUsPerRequest)))} µs/request`);
  line(`  metrics on >= ${METRICS_GOAL}x off: ${f2(ratio)}x (per cycle ${ratios.map(f2).join(', ')})  ${ratio >= METRICS_GOAL ? 'MET' : 'MISSED'}`);
  return ratio >= METRICS_GOAL;
}
