/**
 * A real nginx (Debian's package) for the example configs: rendered from a template in
 * `examples/`, run in the foreground with a private prefix (temp directory) on a free port,
 * stopped gracefully. Shared by the auth_request example's test and the load balancer's.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { children, freePort } from './cli.js';

/** The nginx binary; TOKENBOX_TEST_NGINX points elsewhere (a missing path shows the skip). */
export const NGINX = process.env.TOKENBOX_TEST_NGINX ?? '/usr/sbin/nginx';

/** Why nginx (with the auth_request module the examples use) cannot run here, or null. */
export function nginxMissing(): string | null {
  if (!existsSync(NGINX)) return `${NGINX} is not installed (Debian: apt-get install nginx)`;
  const version = spawnSync(NGINX, ['-V'], { encoding: 'utf8' });
  if (version.error) return `${NGINX} -V failed: ${version.error.message}`;
  if (!`${version.stdout}${version.stderr}`.includes('--with-http_auth_request_module')) {
    return `${NGINX} was built without ngx_http_auth_request_module`;
  }
  return null;
}

export function readIfExists(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

export interface RunningNginx {
  readonly port: number;
  /** The private prefix: `logs/access.log` and `logs/error.log` are under it. */
  readonly prefix: string;
  /** `logs/access.log` as it is now. */
  accessLog(): string;
  /** Everything nginx wrote: the access and error logs, and its own stdout/stderr. */
  allLogs(): string[];
  /** SIGQUIT (graceful), SIGKILL after 5 s; removes the prefix. */
  stop(): Promise<void>;
}

/**
 * Renders `template` (its `__LISTEN_PORT__` and `__PREFIX__` filled here, the rest from
 * `placeholders`), checks it with `nginx -t`, starts nginx, and resolves once `ready(port)` says
 * it answers (within 10 s).
 */
export async function startNginx(template: string, placeholders: Record<string, string>, ready: (port: number) => Promise<boolean>): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'tokenbox-nginx-'));
  mkdirSync(join(prefix, 'logs'));
  mkdirSync(join(prefix, 'tmp'));
  const port = await freePort();
  let config = readFileSync(template, 'utf8').replaceAll('__LISTEN_PORT__', String(port)).replaceAll('__PREFIX__', prefix);
  for (const [name, value] of Object.entries(placeholders)) config = config.replaceAll(`__${name}__`, value);
  assert.doesNotMatch(config, /__[A-Z_]+__/, 'a placeholder was left in the template');
  writeFileSync(join(prefix, 'nginx.conf'), config);

  const globals = [`daemon off;`, `pid ${prefix}/nginx.pid;`, `error_log ${prefix}/error.log;`];
  // As root, nginx would switch its workers to `nobody`, who cannot enter the 0700 temp prefix.
  if (process.getuid?.() === 0) globals.push('user root;');
  const args = ['-p', `${prefix}/`, '-c', 'nginx.conf', '-e', `${prefix}/error.log`, '-g', globals.join(' ')];
  const verdict = spawnSync(NGINX, ['-t', ...args], { encoding: 'utf8' });
  assert.equal(verdict.status, 0, `nginx -t refused the example:\n${verdict.stderr}`);

  const proc: ChildProcess = spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let output = '';
  proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      children.delete(proc);
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (!exited) {
      proc.kill('SIGQUIT');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), 5_000)));
      if ((await Promise.race([exit, timeout])) === 'timeout') proc.kill('SIGKILL');
      clearTimeout(timer);
    }
    rmSync(prefix, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) assert.fail(`nginx exited at start:\n${output}\n${readIfExists(join(prefix, 'error.log'))}`);
    try {
      if (await ready(port)) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      assert.fail(`nginx did not answer within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return {
    port,
    prefix,
    accessLog: () => readFileSync(join(prefix, 'logs', 'access.log'), 'utf8'),
    allLogs: () => [
      readIfExists(join(prefix, 'logs', 'access.log')),
      readIfExists(join(prefix, 'logs', 'error.log')),
      readIfExists(join(prefix, 'error.log')),
      output,
    ],
    stop,
  };
}
