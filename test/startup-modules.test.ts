/**
 * What tokenbox loads for Redis: nothing without `redisUrl`, and with it an ioredis that declares
 * no `String` subclass. ioredis 6 does (its RESP3 decoder), and one object inheriting from
 * `String.prototype` stops V8 11 from inlining string property loads anywhere in the process
 * (src/main.ts, `loadRedisLimiter`).
 *
 * The loading case runs in a fresh child process: this test runner's own process may have loaded
 * anything.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-startup-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

/**
 * Opens tokenbox with `flags` in a child process, builds the server `serve` runs, and prints
 * whether ioredis was loaded; then loads ioredis itself and prints again (the probe's own check:
 * it must see a loaded ioredis, or a pass would prove nothing).
 */
async function ioredisLoaded(flags: Record<string, unknown>): Promise<{ afterOpen: boolean; probeSeesIt: boolean }> {
  const script = `
    import { createRequire } from 'node:module';
    import { loadConfig } from './src/config/config.ts';
    import { openTokenbox } from './src/main.ts';
    import { buildServer } from './src/http/server.ts';
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('/node_modules/ioredis/'));
    const config = loadConfig({ env: { TOKENBOX_SECRET: 'c'.repeat(44) }, flags: ${JSON.stringify(flags)} });
    if (!config.ok) throw new Error(config.errors.join('; '));
    const app = await openTokenbox(config.config);
    const server = buildServer(app, { logger: false });
    await server.ready();
    const afterOpen = loaded();
    await server.close();
    await app.close();
    await import('ioredis');
    process.stdout.write(JSON.stringify({ afterOpen, probeSeesIt: loaded() }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 });
  return JSON.parse(stdout) as { afterOpen: boolean; probeSeesIt: boolean };
}

it('does not load ioredis when no redisUrl is set (the default, and every SQLite-only node)', async () => {
  const seen = await ioredisLoaded({ dataDir });
  assert.equal(seen.probeSeesIt, true, 'the probe must see ioredis once it is loaded');
  assert.equal(seen.afterOpen, false, 'tokenbox without redisUrl loaded ioredis');
});

it('the installed ioredis declares no String subclass (ioredis 6 does; it would slow the nodes that use Redis)', () => {
  const built = fileURLToPath(new URL('../node_modules/ioredis/built', import.meta.url));
  const SUBCLASS = /\bextends\s+String\b/;
  assert.equal(SUBCLASS.test('class VerbatimString extends String {'), true, 'the pattern must catch the ioredis 6 declaration');
  const files = (readdirSync(built, { recursive: true }) as string[]).filter((file) => file.endsWith('.js'));
  assert.ok(files.length > 20, `found only ${files.length} files under ${built}`);
  const offenders = files.filter((file) => SUBCLASS.test(readFileSync(join(built, file), 'utf8')));
  assert.deepEqual(offenders, []);
});
