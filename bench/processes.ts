/**
 * The servers the benchmark measures, each in its own process, as users run them (issue: speed
 * as shipped):
 *
 * - tokenbox: the compiled CLI's `tokenbox serve`, with its default logger writing JSON lines to
 *   a pipe this process drains, and the config a user would give it, except that the limits are
 *   raised (environment layer, printed with the results).
 * - the yardstick: a bare Fastify (no logger) in `bare-server.mjs`, plain JavaScript.
 *
 * Each reports its own CPU time from /proc, so "server CPU per request" is the server's alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../test/helpers/free-port.js';
import { createInterface } from 'node:readline';
import { processCpuUs } from './process-cpu.js';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const BARE = fileURLToPath(new URL('./bare-server.mjs', import.meta.url));

/**
 * The environment `serve` gets: the operator's secret and the raised limits, nothing else of
 * tokenbox's (a TOKENBOX_* of the shell running the benchmark must not leak into it).
 */
export const SERVE_LIMITS = { TOKENBOX_ACCOUNT_RATE_LIMIT: '1000000000', TOKENBOX_MAX_TOKENS_PER_ACCOUNT: '1000000' } as const;

export interface ChildServer {
  readonly origin: string;
  readonly pid: number;
  /** User + system CPU time the process has used so far, µs. */
  cpuUs(): number;
  /** Log lines the process has written to stdout so far. */
  logLines(): number;
  close(): Promise<void>;
}

export { freePort };

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('TOKENBOX_') && key !== 'DATABASE_URL' && key !== 'REDIS_URL') env[key] = value;
  return { ...env, ...extra };
}

/**
 * Resolves with the origin once `ready` finds it in a line of stdout; every line is counted and
 * dropped (the log is drained as a log shipper would, never buffered).
 */
function watch(child: ChildProcess, ready: (line: string) => string | null, what: string): Promise<{ origin: string; lines: () => number }> {
  return new Promise((resolve, reject) => {
    let lines = 0;
    let origin: string | null = null;
    const stderr: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
    const onExit = (code: number | null): void => reject(new Error(`${what} exited (${code}) before it was ready: ${stderr.join('').slice(0, 500)}`));
    child.once('exit', onExit);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines++;
      if (origin !== null) return;
      origin = ready(line);
      if (origin !== null) {
        child.off('exit', onExit);
        resolve({ origin, lines: () => lines });
      }
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Where a `serve` keeps its data: a SQLite data directory, or a PostgreSQL URL. */
export type ServeStore = string | { readonly databaseUrl: string };

/** `tokenbox serve --data <dataDir>` (or `--database-url <url>`) from the compiled CLI, default logger, raised limits. */
export async function startShippedServe(where: ServeStore, secret: string, configPath?: string, env: Record<string, string> = {}): Promise<ChildServer> {
  const port = await freePort();
  const config = configPath === undefined ? [] : ['--config', configPath];
  const store = typeof where === 'string' ? ['--data', where] : ['--database-url', where.databaseUrl];
  const child = spawn(process.execPath, [BIN, 'serve', ...store, '--host', '127.0.0.1', '--port', String(port), ...config], {
    cwd: ROOT,
    env: cleanEnv({ TOKENBOX_SECRET: secret, ...SERVE_LIMITS, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // pino's line for Fastify's listen: {"level":30,…,"msg":"Server listening at http://127.0.0.1:…"}.
  const { origin, lines } = await watch(child, (line) => (line.includes('Server listening at') ? `http://127.0.0.1:${port}` : null), 'tokenbox serve');
  const pid = child.pid as number;
  return { origin, pid, cpuUs: () => processCpuUs(pid), logLines: lines, close: () => stop(child) };
}

export interface BareSpec {
  /** Answer every request with 200 and this text body (an upstream for the gateway). */
  readonly upstreamBody?: string;
  /** Proxy every request to this origin with @fastify/reply-from, no checks (the gateway's yardstick). */
  readonly proxyTo?: string;
  /** Answer `GET /tokens/v2` with this JSON body (and these headers). */
  readonly retrieveBody?: unknown;
  readonly retrieveHeaders?: Record<string, string>;
  /** Answer `GET /auth/v1/check` with 200, an empty body and these headers. */
  readonly checkHeaders?: Record<string, string>;
}

/** The bare Fastify yardstick in its own process. */
export async function startBareServer(spec: BareSpec): Promise<ChildServer> {
  const child = spawn(process.execPath, [BARE, JSON.stringify(spec)], { cwd: ROOT, env: cleanEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
  const { origin, lines } = await watch(child, (line) => (line.startsWith('listening ') ? line.slice('listening '.length).trim() : null), 'bare Fastify');
  const pid = child.pid as number;
  return { origin, pid, cpuUs: () => processCpuUs(pid), logLines: lines, close: () => stop(child) };
}
