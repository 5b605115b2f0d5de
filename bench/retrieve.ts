/**
 * Retrieve (`GET /tokens/v2?access_token=<sk>`) on `tokenbox serve` against a bare Fastify route
 * (in its own process too) answering a body of the same size, under identical load. Rounds take turns (bare, bare + headers, tokenbox; the
 * next round starts one side later) so drift on the machine falls on every side. The middle side,
 * bare Fastify sending tokenbox's response headers, is a diagnostic: it splits what the wire
 * rules' headers cost (on the server and on the client that parses them) from what tokenbox's
 * own work costs.
 */
import { measureThroughput, type MeasuredThroughput } from './http-load.js';
import type { BenchOptions } from './options.js';
import { startBareServer, type ChildServer } from './processes.js';
import type { BenchApp } from './setup.js';

export interface SideFigures {
  /** Per round, requests per second. */
  readonly rounds: number[];
  /** All 2xx over all measured seconds. */
  readonly rps: number;
  /** Server-process CPU per request (µs), over all rounds. */
  readonly cpuUsPerRequest: number;
  /** Load-generator CPU per request (µs), timed runs only. */
  readonly clientCpuUsPerRequest: number;
}

export interface RetrieveFigures {
  readonly bodyBytes: number;
  readonly headerNames: string[];
  readonly bare: SideFigures;
  readonly bareWithHeaders: SideFigures;
  readonly tokenbox: SideFigures;
}

/** Response headers tokenbox adds on retrieve that bare Fastify does not send. */
const EXTRA_HEADER = /^(access-control-|x-rate-limit-|cache-control$)/;

function combine(runs: readonly MeasuredThroughput[]): SideFigures {
  const sum = (f: (r: MeasuredThroughput) => number): number => runs.reduce((acc, r) => acc + f(r), 0);
  const ok = sum((r) => r.ok2xx);
  return {
    rounds: runs.map((r) => r.rps),
    rps: ok / sum((r) => r.durationS),
    cpuUsPerRequest: sum((r) => r.serverCpuUsPerRequest * (r.ok2xx + r.warmupResponses)) / sum((r) => r.ok2xx + r.warmupResponses),
    clientCpuUsPerRequest: sum((r) => r.clientCpuUsPerRequest * r.ok2xx) / ok,
  };
}

export async function measureRetrieve(bench: BenchApp, options: BenchOptions, sk: string): Promise<RetrieveFigures> {
  const path = `/tokens/v2?access_token=${sk}`;
  const res = await fetch(`${bench.origin}${path}`);
  const text = await res.text();
  const answer = JSON.parse(text) as { code?: string };
  if (res.status !== 200 || answer.code !== 'TokenValid') throw new Error(`retrieve check failed: ${res.status} ${answer.code}`);
  const extraHeaders = Object.fromEntries([...res.headers].filter(([name]) => EXTRA_HEADER.test(name)));
  const servers = {
    bare: await startBareServer({ retrieveBody: answer }),
    bareWithHeaders: await startBareServer({ retrieveBody: answer, retrieveHeaders: extraHeaders }),
  };
  try {
    for (const server of Object.values(servers)) {
      const check = await (await fetch(`${server.origin}${path}`)).text();
      if (check.length !== text.length) throw new Error(`baseline body is ${check.length} bytes, tokenbox's ${text.length}`);
    }
    const measured: Record<'bare' | 'bareWithHeaders' | 'tokenbox', ChildServer> = { ...servers, tokenbox: bench.serve };
    const runs = { bare: [] as MeasuredThroughput[], bareWithHeaders: [] as MeasuredThroughput[], tokenbox: [] as MeasuredThroughput[] };
    const order = ['bare', 'bareWithHeaders', 'tokenbox'] as const;
    for (let round = 0; round < options.retrieveRounds; round++) {
      // Each round starts with the next side, so no side always runs first or last.
      const rotated = [...order.slice(round % order.length), ...order.slice(0, round % order.length)];
      for (const side of rotated) {
        runs[side].push(
          await measureThroughput(measured[side], {
            url: `${measured[side].origin}${path}`,
            method: 'GET',
            connections: options.connections,
            warmup: { durationS: options.retrieveWarmupS },
            durationS: options.retrieveDurationS,
          }),
        );
      }
    }
    return {
      bodyBytes: Buffer.byteLength(text),
      headerNames: Object.keys(extraHeaders),
      bare: combine(runs.bare),
      bareWithHeaders: combine(runs.bareWithHeaders),
      tokenbox: combine(runs.tokenbox),
    };
  } finally {
    await servers.bare.close();
    await servers.bareWithHeaders.close();
  }
}
