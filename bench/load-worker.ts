/**
 * The load-generator child (forked by `http-load.ts`): runs one job against 127.0.0.1, sends the
 * result to the parent, and exits. Nothing here imports tokenbox: it is a plain HTTP client.
 */
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';
import type { LatencyJob, LatencyResult, LoadJob, MixedJob, MixedResult, ThroughputJob, ThroughputResult } from './load-jobs.js';
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

function mixedRun(job: MixedJob, durationS: number, onResponse?: (status: number, ms: number) => void): Promise<autocannon.Result> {
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

async function runMixed(job: MixedJob): Promise<MixedResult> {
  const warm = job.warmupS > 0 ? await mixedRun(job, job.warmupS) : undefined;
  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const result = await mixedRun(job, job.durationS, (status, ms) => {
    latencies.push(ms);
    statusCounts[status] = (statusCounts[status] ?? 0) + 1;
  });
  latencies.sort((a, b) => a - b);
  return {
    kind: 'mixed',
    responses: latencies.length,
    warmupResponses: warm === undefined ? 0 : warm['2xx'] + warm.non2xx,
    durationS: result.duration,
    rps: latencies.length / result.duration,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    statusCounts,
    errors: result.errors,
  };
}

process.once('message', (job: LoadJob) => {
  const work = job.kind === 'throughput' ? runThroughput(job) : job.kind === 'latency' ? runLatency(job) : runMixed(job);
  work.then(
    (result) => process.send?.(result, () => process.exit(0)),
    (error: unknown) => {
      console.error('load generator failed:', error);
      process.exit(1);
    },
  );
});
