/**
 * Creates through the API: POST /tokens/v2/:user over real HTTP, a pk with two public scopes per
 * request, into a fresh account; and a probe of what one create costs as the account grows.
 */
import type { Tokenbox } from '../dist/main.js';
import { measureThroughput } from './http-load.js';
import type { BenchOptions } from './options.js';
import type { BenchApp } from './setup.js';
import { summarize, type LatencySummary } from './stats.js';

export const CREATE_BODY = JSON.stringify({ note: 'bench', scopes: ['styles:read', 'styles:tiles'] });

export interface CreatesFigures {
  readonly rps: number;
  readonly latencyMeanMs: number;
  /** Server-process CPU per request (µs), warm-up included. */
  readonly cpuUsPerRequest: number;
  readonly created: number;
  readonly durationS: number;
  /** Tokens the account held when the run ended. */
  readonly accountSize: number;
}

export async function measureCreates(bench: BenchApp, options: BenchOptions, username: string): Promise<CreatesFigures> {
  // A token grants only scopes it holds itself, so the caller holds the created token's scopes.
  const sk = await bench.accountWithSecretToken(username, ['tokens:write', 'styles:read', 'styles:tiles']);
  const result = await measureThroughput(bench.serve, {
    url: `${bench.origin}/tokens/v2/${username}?access_token=${sk}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: CREATE_BODY,
    connections: options.connections,
    // A fixed duration, not a request count: autocannon notices `amount` being reached only at
    // its next 1-second sample tick, which would understate the rate.
    warmup: { durationS: options.createWarmupS },
    durationS: options.createDurationS,
  });
  return {
    rps: result.rps,
    latencyMeanMs: result.latencyMeanMs,
    cpuUsPerRequest: result.serverCpuUsPerRequest,
    created: result.ok2xx,
    durationS: result.durationS,
    accountSize: 2 + result.warmupResponses + result.ok2xx,
  };
}

/**
 * One create, in process (`TokensService.create`, no HTTP), timed `count` times in a row on an
 * account of a given size: shows how the store's per-insert token count grows with the account.
 */
export async function probeCreateCost(app: Tokenbox, username: string, count: number): Promise<LatencySummary> {
  const grant = await app.access.operator(username);
  const input = { note: 'probe', scopes: ['styles:read', 'styles:tiles'] };
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    await app.tokens.create(grant, input);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return summarize(samples);
}
