/**
 * The end-to-end harness: run the compiled `tokenbox` CLI in child processes, start `serve` on a
 * free port and stop it with signals, as an operator would.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { freePort } from './free-port.js';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'dist', 'cli', 'bin.js');

/**
 * True when every src/*.ts has a compiled dist/*.js at least as new, and the page is built
 * (src/web is Vite's, bundled into dist/web, not compiled file by file).
 */
function isBuildFresh(): boolean {
  if (!existsSync(join(ROOT, 'dist', 'web', 'index.html'))) return false;
  for (const rel of readdirSync(join(ROOT, 'src'), { recursive: true }) as string[]) {
    if (rel.startsWith(`web${sep}`) || !rel.endsWith('.ts') || rel.endsWith('.test.ts') || rel.endsWith('.d.ts')) continue;
    const out = join(ROOT, 'dist', rel.replace(/\.ts$/, '.js'));
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(join(ROOT, 'src', rel)).mtimeMs) return false;
  }
  return true;
}

/**
 * The e2e tests run the compiled CLI, as a user does. `npm test` builds `dist/` first; a stale
 * build would test old code, so it is refused with a clear message instead.
 */
export function ensureBuilt(): void {
  if (!isBuildFresh()) throw new Error('dist/ is older than src/: run `npm run build` first (npm test does)');
}

/** The environment without any tokenbox setting (TOKENBOX_SECRET in particular), plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TOKENBOX_') && key !== 'DATABASE_URL' && key !== 'REDIS_URL') env[key] = value;
  }
  return { ...env, ...extra };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI; `stdin` is written to its standard input, which is then closed. */
export function cli(args: readonly string[], env: Record<string, string> = {}, stdin = ''): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { env: childEnv(env), cwd: tmpdir(), timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

export async function cliJson<T>(args: readonly string[], env: Record<string, string> = {}): Promise<T> {
  const result = await cli([...args, '--json'], env);
  assert.equal(result.code, 0, `tokenbox ${args.join(' ')} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export { freePort };

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningServer {
  readonly proc: ChildProcess;
  readonly origin: string;
  readonly exited: Promise<Exit>;
  output(): string;
  /** Resolves with the output once `match` is in it (waits on the process's output events); rejects after `timeoutMs`. */
  waitForOutput(match: RegExp | string, timeoutMs?: number): Promise<string>;
}

/** Waits on `proc`'s output events until `read()` holds `match`. */
function outputWaiter(proc: ChildProcess, read: () => string): RunningServer['waitForOutput'] {
  return (match, timeoutMs = 5_000) =>
    new Promise((resolve, reject) => {
      const found = (): boolean => (typeof match === 'string' ? read().includes(match) : match.test(read()));
      if (found()) return resolve(read());
      const onData = (): void => {
        if (!found()) return;
        cleanup();
        resolve(read());
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`serve's output did not show ${String(match)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        proc.stdout?.off('data', onData);
        proc.stderr?.off('data', onData);
      };
      // Registered after the buffering listeners, so `read()` already holds the chunk.
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
    });
}

export const children = new Set<ChildProcess>();

/** Where a command keeps its data: a SQLite data directory, or a PostgreSQL URL. */
export type StoreLocation = string | { readonly databaseUrl: string };

/** The flags that point a command at `where`. */
export function storeArgs(where: StoreLocation): string[] {
  return typeof where === 'string' ? ['--data', where] : ['--database-url', where.databaseUrl];
}

/** `tokenbox serve` on a free port; resolves once GET /health answers 200. */
export async function startServer(where: StoreLocation, env: Record<string, string> = {}): Promise<RunningServer> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawn(process.execPath, [BIN, 'serve', ...storeArgs(where), '--port', String(port)], {
      env: childEnv(env),
      cwd: tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(proc);
    let output = '';
    proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let done: Exit | null = null;
    const exited = new Promise<Exit>((resolve) =>
      proc.once('exit', (code, signal) => {
        done = { code, signal };
        children.delete(proc);
        resolve(done);
      }),
    );
    const origin = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    while (done === null && Date.now() < deadline) {
      try {
        const res = await fetch(`${origin}/health`, { signal: AbortSignal.timeout(1_000) });
        if (res.status === 200) return { proc, origin, exited, output: () => output, waitForOutput: outputWaiter(proc, () => output) };
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (done === null) {
      proc.kill('SIGKILL');
      throw new Error(`serve did not answer /health within 15 s:\n${output}`);
    }
    // Someone took the port between the probe and the listen: try another.
    if (attempt < 3 && output.includes('cannot listen')) continue;
    throw new Error(`serve exited early (${JSON.stringify(done)}):\n${output}`);
  }
}

/** Sends the signals (`gapMs` apart) and waits at most `limitMs` for the exit. */
export async function stopServer(server: RunningServer, signals: NodeJS.Signals[], gapMs = 0, limitMs = 10_000): Promise<Exit & { ms: number }> {
  const started = Date.now();
  for (const [i, signal] of signals.entries()) {
    if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    server.proc.kill(signal);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), limitMs)));
  const exit = await Promise.race([server.exited, timeout]);
  clearTimeout(timer);
  if (exit === null) {
    server.proc.kill('SIGKILL');
    assert.fail(`serve did not exit within ${limitMs} ms of ${signals.join('+')}:\n${server.output()}`);
  }
  return { ...exit, ms: Date.now() - started };
}

/**
 * A temp data directory for an e2e file or suite: after its tests, every `serve` still running is
 * killed and the directory removed (whatever the tests did).
 */
export function e2eDataDir(prefix: string): string {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  after(() => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  return dataDir;
}
