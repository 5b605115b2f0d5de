/**
 * The parent side of the load generator. Each job runs in a fresh child process (this machine has
 * 2 cores: the server keeps one event loop, the generator gets its own), and the child reports
 * back over IPC. See `load-worker.ts` for the child.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LatencyJob, LatencyResult, LoadJob, LoadResult, MixedJob, MixedResult, ThroughputJob, ThroughputResult } from './load-jobs.js';

const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

function runJob(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    // Explicit execArgv: a `--cpu-prof` given to the parent must not profile the generator too.
    const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: LoadResult | undefined;
    child.once('message', (message) => {
      result = message as LoadResult;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (result !== undefined && code === 0) resolve(result);
      else reject(new Error(`load generator exited with code ${code} before reporting`));
    });
    child.send(job);
  });
}

export interface MeasuredThroughput extends ThroughputResult {
  /**
   * CPU time (user + system) the server process spent per response, warm-up included, in µs.
   * Less sensitive than req/s to other work on the machine.
   */
  readonly serverCpuUsPerRequest: number;
}

/** A server under load, in its own process: its CPU time so far, in µs. */
export interface MeasuredServer {
  cpuUs(): number;
}

export async function measureThroughput(server: MeasuredServer, job: Omit<ThroughputJob, 'kind'>): Promise<MeasuredThroughput> {
  const cpuBefore = server.cpuUs();
  const result = await runJob({ kind: 'throughput', ...job });
  const cpu = server.cpuUs() - cpuBefore;
  if (result.kind !== 'throughput') throw new Error('load generator answered the wrong job');
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `${job.method} ${redact(job.url)}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; statuses ${JSON.stringify(result.statusCounts)}`,
    );
  }
  const responses = result.warmupResponses + result.ok2xx;
  return { ...result, serverCpuUsPerRequest: cpu / responses };
}

export async function measureLatency(job: Omit<LatencyJob, 'kind'>): Promise<LatencyResult> {
  const result = await runJob({ kind: 'latency', ...job });
  if (result.kind !== 'latency') throw new Error('load generator answered the wrong job');
  if (result.non200 > 0) throw new Error(`latency run: ${result.non200} responses were not 200`);
  return result;
}

/** Concurrent load over a list of requests, any status accepted; precise p50/p99. */
export async function measureMixed(server: MeasuredServer, job: Omit<MixedJob, 'kind'>): Promise<MixedResult & { serverCpuUsPerRequest: number }> {
  const cpuBefore = server.cpuUs();
  const result = await runJob({ kind: 'mixed', ...job });
  const cpu = server.cpuUs() - cpuBefore;
  if (result.kind !== 'mixed') throw new Error('load generator answered the wrong job');
  if (result.errors > 0) throw new Error(`${result.errors} connection errors`);
  // The CPU spans the warm-up too, so its responses count.
  return { ...result, serverCpuUsPerRequest: cpu / Math.max(1, result.responses + result.warmupResponses) };
}

/** Error messages never show a token. */
function redact(url: string): string {
  return url.replace(/access_token=[^&]*/g, 'access_token=[redacted]');
}

/**
 * Two servers measured in turns with the same load: `rounds` rounds, the order swapping every
 * round so load that comes and goes on the machine falls on both alike. Any answer but 200 fails
 * the run (a refusal measured as a success would flatter the side that refused).
 */
export async function alternatingRounds<S extends string>(
  sides: readonly [S, S],
  rounds: number,
  job: (side: S) => { readonly server: MeasuredServer } & Omit<MixedJob, 'kind'>,
): Promise<Record<S, Array<MixedResult & { serverCpuUsPerRequest: number }>>> {
  const results = { [sides[0]]: [], [sides[1]]: [] } as unknown as Record<S, Array<MixedResult & { serverCpuUsPerRequest: number }>>;
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? sides : ([sides[1], sides[0]] as const)) {
      const { server, ...load } = job(side);
      const result = await measureMixed(server, load);
      if (Object.keys(result.statusCounts).some((s) => s !== '200')) throw new Error(`${side}: statuses ${JSON.stringify(result.statusCounts)}`);
      results[side].push(result);
    }
  }
  return results;
}
