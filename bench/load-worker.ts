/**
 * The load-generator child (forked by `http-load.ts`): runs one job against 127.0.0.1, sends the
 * result to the parent, and exits. Nothing here imports tokenbox: it is a plain HTTP client.
 */
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';
import type { LatencyJob, LatencyResult, LoadJob, LoadRequest, SideRun, SlicedJob, SlicedResult, ThroughputJob, ThroughputResult } from './load-jobs.js';
import { processCpuUs } from './process-cpu.js';
import { percentile } from './stats.js';

function cannon(job: ThroughputJob, length: { durationS?: number; amount?: number }): Promise<autocannon.Result> {
  return autocannon({
    url: job.url,
    method: job.method,
    connections: job.connections,
    pipelining: 1,
    ...(job.headers !== undefined && { headers: job.headers }),
    ...(job.body !== undefined && { body: job.body }),
    ...(length.amount !== undefined ? { amount: length.amount } : { duration: length.durationS ?? 5 }),
  });
}

async function runThroughput(job: ThroughputJob): Promise<ThroughputResult> {
  const warm = job.warmup === undefined ? undefined : await cannon(job, job.warmup);
  const cpuBefore = process.cpuUsage();
  const result = await cannon(job, job);
  const cpu = process.cpuUsage(cpuBefore);
  const ok2xx = result['2xx'];
  return {
    kind: 'throughput',
    ok2xx,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
    rps: ok2xx / result.duration,
    latencyMeanMs: result.latency.average,
    clientCpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, result['2xx'] + result.non2xx),
    warmupResponses: warm === undefined ? 0 : warm['2xx'] + warm.non2xx,
    statusCounts: Object.fromEntries(
      Object.entries((result as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {}).map(([k, v]) => [k, v.count]),
    ),
  };
}

function timedGet(agent: Agent, url: string): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = request(url, { agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function runLatency(job: LatencyJob): Promise<LatencyResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samplesMs = job.urls.map(() => [] as number[]);
  let non200 = 0;
  for (let round = 0; round < job.warmupRounds + job.rounds; round++) {
    for (const [i, url] of job.urls.entries()) {
      const { status, ms } = await timedGet(agent, url);
      if (status !== 200) non200++;
      if (round >= job.warmupRounds) samplesMs[i]?.push(ms);
    }
  }
  agent.destroy();
  return { kind: 'latency', samplesMs, non200 };
}

interface Target {
  readonly origin: string;
  readonly connections: number;
  readonly requests: readonly LoadRequest[];
}

function mixedRun(job: Target, durationS: number, onResponse?: (status: number, ms: number) => void): Promise<autocannon.Result> {
  const instance = autocannon({
    url: job.origin,
    connections: job.connections,
    pipelining: 1,
    duration: durationS,
    requests: job.requests.map((r) => ({ method: r.method as 'GET', path: r.path, ...(r.headers !== undefined && { headers: r.headers }) })),
  });
  // autocannon's return value is both a promise of the result and an event emitter.
  const emitter = instance as unknown as { on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void };
  if (onResponse) emitter.on('response', (_client, status, _bytes, ms) => onResponse(status, ms));
  return instance;
}

/** What one side of a sliced run gathers over a cycle's slices. */
class SideTally {
  readonly latencies: number[] = [];
  readonly statusCounts: Record<string, number> = {};
  durationS = 0;
  errors = 0;
  cpuUs = 0;
  generatorCpuUs = 0;

  readonly record = (status: number, ms: number): void => {
    this.latencies.push(ms);
    this.statusCounts[status] = (this.statusCounts[status] ?? 0) + 1;
  };

  summary(): SideRun {
    const sorted = this.latencies.sort((a, b) => a - b);
    return {
      responses: sorted.length,
      durationS: this.durationS,
      rps: sorted.length / this.durationS,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      statusCounts: this.statusCounts,
      errors: this.errors,
      serverCpuUsPerRequest: this.cpuUs / Math.max(1, sorted.length),
      generatorCpuUsPerRequest: this.generatorCpuUs / Math.max(1, sorted.length),
    };
  }
}

async function runSliced(job: SlicedJob): Promise<SlicedResult> {
  const target = (side: SlicedJob['sides'][number]): Target => ({ origin: side.origin, connections: job.connections, requests: side.requests });
  for (const side of job.sides) await mixedRun(target(side), job.warmupS);
  const order = [...job.sides, ...[...job.sides].reverse()];
  const cycles: Array<Record<string, SideRun>> = [];
  for (let cycle = 0; cycle < job.cycles; cycle++) {
    const tallies = new Map(job.sides.map((side) => [side.name, new SideTally()]));
    for (const side of order) {
      const tally = tallies.get(side.name) as SideTally;
      const cpuBefore = processCpuUs(side.pid);
      const generatorBefore = process.cpuUsage();
      const started = performance.now();
      const result = await mixedRun(target(side), job.sliceS, tally.record);
      tally.durationS += (performance.now() - started) / 1000;
      tally.cpuUs += processCpuUs(side.pid) - cpuBefore;
      const generator = process.cpuUsage(generatorBefore);
      tally.generatorCpuUs += generator.user + generator.system;
      tally.errors += result.errors;
    }
    cycles.push(Object.fromEntries([...tallies].map(([name, tally]) => [name, tally.summary()])));
  }
  return { kind: 'sliced', cycles };
}

process.once('message', (job: LoadJob) => {
  const work = job.kind === 'throughput' ? runThroughput(job) : job.kind === 'latency' ? runLatency(job) : runSliced(job);
  work.then(
    (result) => process.send?.(result, () => process.exit(0)),
    (error: unknown) => {
      console.error('load generator failed:', error);
      process.exit(1);
    },
  );
});
