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
 * Many connections at once, cycling through a list of requests, any status accepted: refusals
 * are results too (forward auth's 401s). Every response's latency is recorded at full precision
 * (autocannon's own histogram rounds to whole milliseconds), so p99 means something.
 */
export interface MixedJob {
  readonly kind: 'mixed';
  readonly origin: string;
  readonly requests: ReadonlyArray<{ readonly method: string; readonly path: string; readonly headers?: Record<string, string> }>;
  readonly connections: number;
  readonly durationS: number;
  readonly warmupS: number;
}

export interface MixedResult {
  readonly kind: 'mixed';
  readonly responses: number;
  /** Responses answered during the warm-up (not in `responses`): the server's CPU counts them. */
  readonly warmupResponses: number;
  readonly durationS: number;
  /** Responses per second of measured wall time. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly statusCounts: Record<string, number>;
  readonly errors: number;
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

export type LoadJob = ThroughputJob | LatencyJob | MixedJob;
export type LoadResult = ThroughputResult | LatencyResult | MixedResult;
