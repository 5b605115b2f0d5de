/**
 * The gateway (SPEC §5 way in 3) as `tokenbox serve` ships it, against a plain proxy built from
 * the same library (@fastify/reply-from) with no token checks, both in front of one upstream, each
 * in its own process. Goal: at least 0.75× the plain proxy's throughput; the p99 ratio is printed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareInSlices } from './http-load.js';
import type { SideRun } from './load-jobs.js';
import { sliceLoad, type BenchOptions } from './options.js';
import { startBareServer, startShippedServe } from './processes.js';
import type { BenchApp } from './setup.js';
import { median } from './stats.js';
import { line, f0, f2 } from './print.js';

export const GATEWAY_GOAL = 0.75;

export interface GatewayFigures {
  readonly plain: SideRun[];
  readonly gateway: SideRun[];
  readonly bodyBytes: number;
}

export async function measureGateway(bench: BenchApp, options: BenchOptions): Promise<GatewayFigures> {
  const body = 'x'.repeat(1024);
  const upstream = await startBareServer({ upstreamBody: body });
  const plain = await startBareServer({ proxyTo: upstream.origin });
  const configPath = join(bench.dataDir, 'gateway.json');
  writeFileSync(configPath, JSON.stringify({ routes: [{ path: '/tiles/*', methods: ['GET'], scope: 'styles:tiles', upstream: upstream.origin }] }));
  const gateway = await startShippedServe(bench.dataDir, bench.secret, configPath);
  const created = await bench.app.accounts.create('gateway');
  const pk = created.defaultPublicToken.token as string;
  try {
    const runs = await compareInSlices(
      [
        { name: 'plain', server: plain, requests: [{ method: 'GET', path: '/tiles/1/2/3.pbf' }] },
        { name: 'gateway', server: gateway, requests: [{ method: 'GET', path: `/tiles/1/2/3.pbf?access_token=${pk}` }] },
      ],
      sliceLoad(options),
    );
    return { ...runs, bodyBytes: body.length };
  } finally {
    await gateway.close();
    await plain.close();
    await upstream.close();
  }
}

export function printGateway(g: GatewayFigures): boolean {
  const rps = g.gateway.map((r, i) => r.rps / (g.plain[i]?.rps ?? Number.NaN));
  const p99 = g.gateway.map((r, i) => r.p99Ms / (g.plain[i]?.p99Ms ?? Number.NaN));
  const ratio = median(rps);
  line(`7. Gateway on tokenbox serve (GET /tiles/… with a pk, ${g.bodyBytes}-byte upstream answer) vs a plain @fastify/reply-from proxy, same upstream`);
  line(
    `  plain:    ${f0(median(g.plain.map((r) => r.rps)))} req/s, p99 ${f2(median(g.plain.map((r) => r.p99Ms)))} ms, server CPU ${f0(median(g.plain.map((r) => r.serverCpuUsPerRequest)))} µs/request`,
  );
  line(
    `  tokenbox: ${f0(median(g.gateway.map((r) => r.rps)))} req/s, p99 ${f2(median(g.gateway.map((r) => r.p99Ms)))} ms, server CPU ${f0(median(g.gateway.map((r) => r.serverCpuUsPerRequest)))} µs/request`,
  );
  line(`  ratio throughput tokenbox/plain: ${f2(ratio)}x (per cycle ${rps.map(f2).join(', ')});  p99 tokenbox/plain: ${f2(median(p99))}x`);
  line(`  gateway >= ${GATEWAY_GOAL}x the plain proxy: ${f2(ratio)}x  ${ratio >= GATEWAY_GOAL ? 'MET' : 'MISSED'}`);
  return ratio >= GATEWAY_GOAL;
}
