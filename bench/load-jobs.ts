/**
 * What the parent asks the load-generator child to do, and what it answers. Plain data: the
 * messages cross a process boundary (child_process IPC).
 */

/** Many connections at once (autocannon): requests per second. */
export interface ThroughputJob {
  readonly kind: 'throughput';
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly connections: number;
  /** Run for this many seconds... */
  readonly durationS?: number;
  /** ...or until this many requests have completed (takes precedence). */
  readonly amount?: number;
  /** An untimed run first, on fresh connections, with the same request: JIT and caches warm. */
  readonly warmup?: { readonly durationS?: number; readonly amount?: number };
}

export interface ThroughputResult {
  readonly kind: 'throughput';
  readonly ok2xx: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Measured wall time of the run, seconds. */
  readonly durationS: number;
  /** 2xx responses per second of measured wall time. */
  readonly rps: number;
  /**
   * autocannon's mean latency (ms). It records whole milliseconds, so this is only meaningful
   * when latencies are several ms (creates under load); list latency is timed by `LatencyJob`.
   */
  readonly latencyMeanMs: number;
  /** CPU time (user + system) the load generator spent per response in the timed run, µs. */
  readonly clientCpuUsPerRequest: number;
  /** Responses the untimed warm-up run received. */
  readonly warmupResponses: number;
  /** Count per HTTP status, to explain a failed run. */
  readonly statusCounts: Record<string, number>;
}

/**
 * One request at a time on one keep-alive connection, timing each with hrtime: latency, not
 * throughput. The URLs are visited in turn (a, b, a, b, …) so drift hits them equally.
 */
export interface LatencyJob {
  readonly kind: 'latency';
  readonly urls: readonly string[];
  /** Untimed rounds first (JIT, SQLite page cache). */
  readonly warmupRounds: number;
  readonly rounds: number;
}

export interface LatencyResult {
  readonly kind: 'latency';
  /** Per URL, in order: each timed request's latency in ms. */
  readonly samplesMs: number[][];
  /** Responses other than 200 (warm-up included); any is a failed run. */
  readonly non200: number;
}

/** A request a mixed or sliced run cycles through. */
export interface LoadRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
}

/**
 * Servers compared in short slices by one generator, which stays warm throughout: after a warm-up
 * per side, `cycles` cycles, each running every side for `sliceS` in order and then in reverse
 * (A B C C B A), so that load which comes and goes on the machine, and any steady drift, falls on
 * every side alike. A ratio is then taken per cycle, between runs seconds apart.
 */
export interface SlicedJob {
  readonly kind: 'sliced';
  readonly sides: ReadonlyArray<{
    readonly name: string;
    readonly origin: string;
    /** The server's process: its CPU time is read around each of its slices. */
    readonly pid: number;
    readonly requests: readonly LoadRequest[];
  }>;
  readonly connections: number;
  readonly warmupS: number;
  readonly sliceS: number;
  readonly cycles: number;
}

/**
 * One side's share of one cycle (its two slices). Any status is counted (refusals are results
 * too); every response's latency is kept at full precision (autocannon's own histogram rounds to
 * whole milliseconds), so p99 means something.
 */
export interface SideRun {
  readonly responses: number;
  /** Wall time of the slices, from the first connection to the last response, seconds. */
  readonly durationS: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly statusCounts: Record<string, number>;
  readonly errors: number;
  /** CPU time (user + system) of the server process during the slices, per response, µs. */
  readonly serverCpuUsPerRequest: number;
  /** CPU time of the load generator itself during the slices, per response, µs. */
  readonly generatorCpuUsPerRequest: number;
}

export interface SlicedResult {
  readonly kind: 'sliced';
  /** Per cycle, per side name. */
  readonly cycles: ReadonlyArray<Record<string, SideRun>>;
}

export type LoadJob = ThroughputJob | LatencyJob | SlicedJob;
export type LoadResult = ThroughputResult | LatencyResult | SlicedResult;
