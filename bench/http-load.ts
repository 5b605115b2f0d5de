/**
 * The parent side of the load generator. Each job runs in a fresh child process (this machine has
 * 2 cores: the server keeps one event loop, the generator gets its own), and the child reports
 * back over IPC. See `load-worker.ts` for the child.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LatencyJob, LatencyResult, LoadJob, LoadRequest, LoadResult, SideRun, ThroughputJob, ThroughputResult } from './load-jobs.js';

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

/** Error messages never show a token. */
function redact(url: string): string {
  return url.replace(/access_token=[^&]*/g, 'access_token=[redacted]');
}

/** A server in its own process, as a sliced comparison measures it. */
export interface SlicedServer {
  readonly origin: string;
  readonly pid: number;
}

/**
 * Servers compared in slices by one warm generator (`SlicedJob`), each side with its own requests
 * and expected status; a cycle holds every side twice. Any other status fails the run (a refusal
 * measured as a success would flatter the side that refused). Returns each side's runs, one per
 * cycle, so that ratios pair runs seconds apart.
 */
export async function compareInSlices<S extends string>(
  sides: ReadonlyArray<{ readonly name: S; readonly server: SlicedServer; readonly requests: readonly LoadRequest[]; readonly status?: string }>,
  load: { readonly connections: number; readonly warmupS: number; readonly sliceS: number; readonly cycles: number },
): Promise<Record<S, SideRun[]>> {
  const result = await runJob({
    kind: 'sliced',
    sides: sides.map(({ name, server, requests }) => ({ name, origin: server.origin, pid: server.pid, requests })),
    ...load,
  });
  if (result.kind !== 'sliced') throw new Error('load generator answered the wrong job');
  const out = {} as Record<S, SideRun[]>;
  for (const { name, status = '200' } of sides) {
    out[name] = result.cycles.map((cycle) => cycle[name] as SideRun);
    for (const run of out[name]) {
      if (run.errors > 0) throw new Error(`${name}: ${run.errors} connection errors`);
      if (Object.keys(run.statusCounts).some((s) => s !== status)) throw new Error(`${name}: statuses ${JSON.stringify(run.statusCounts)}`);
    }
  }
  return out;
}
