/**
 * `secret.key` at rest (SPEC §2): one regression test per hole. A key file that is empty, blank,
 * short, or open to other users is a start-up error naming the file and the fix, and nothing is
 * written or overwritten; processes starting together end with one key; a crash mid-write leaves
 * no half key; TOKENBOX_SECRET wins without touching the data directory.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadSecret, SecretKeyError, writeFileOnce } from '../src/secret-key.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const A_KEY = 'an-operator-key-of-exactly-32-ch';

/** Everything in the directory, with each file's mode and contents, to prove nothing changed. */
function snapshot(dir: string): Record<string, { mode: number; text: string }> {
  const files: Record<string, { mode: number; text: string }> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    files[name] = { mode: statSync(path).mode & 0o777, text: readFileSync(path, 'utf8') };
  }
  return files;
}

describe('secret.key', () => {
  let dataDir: string;
  let keyPath: string;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-secret-'));
    keyPath = join(dataDir, 'secret.key');
  });

  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Plants `secret.key`, then asserts start-up refuses it with `fix` and leaves the directory as it was. */
  function assertRefused(text: string, mode: number, fix: RegExp): void {
    writeFileSync(keyPath, text, { mode });
    chmodSync(keyPath, mode);
    const before = snapshot(dataDir);
    assert.throws(
      () => loadSecret({ dataDir, secret: undefined }),
      (error: unknown) => {
        assert.ok(error instanceof SecretKeyError, String(error));
        assert.ok(error.message.startsWith(`${keyPath} `), error.message);
        assert.match(error.message, fix);
        return true;
      },
    );
    assert.deepEqual(snapshot(dataDir), before, 'nothing written, nothing overwritten');
  }

  const TOO_SHORT = /is empty or shorter than 32 characters: restore it from your backup, or remove it only if the data directory holds no tokens yet$/;

  it('first start: creates the directory 0700 and a 0600 key of 44 base64 characters; later starts read the same key', () => {
    const fresh = join(dataDir, 'nested', 'data');
    const secret = loadSecret({ dataDir: fresh, secret: undefined });
    assert.match(secret, /^[A-Za-z0-9+/]{43}=$/);
    assert.equal(statSync(fresh).mode & 0o077, 0);
    assert.equal(statSync(join(fresh, 'secret.key')).mode & 0o077, 0);
    assert.equal(readFileSync(join(fresh, 'secret.key'), 'utf8'), `${secret}\n`);
    assert.deepEqual(readdirSync(fresh), ['secret.key'], 'no temporary file left behind');
    assert.equal(loadSecret({ dataDir: fresh, secret: undefined }), secret);
  });

  it('an empty file (a crash between create and write) is refused, not regenerated', () => {
    assertRefused('', 0o600, TOO_SHORT);
  });

  it('a whitespace-only file is refused', () => {
    assertRefused(' \n\t\n', 0o600, TOO_SHORT);
  });

  it('a short file (31 characters after trimming) is refused; 32 are enough', () => {
    assertRefused(`  ${A_KEY.slice(1)}\n`, 0o600, TOO_SHORT);
    writeFileSync(keyPath, `${A_KEY}\n`);
    assert.equal(loadSecret({ dataDir, secret: undefined }), A_KEY);
  });

  it('a group-readable file (0640) is refused with the chmod that fixes it', () => {
    assertRefused(`${A_KEY}\n`, 0o640, new RegExp(`\\(mode 0640\\): run chmod 600 ${keyPath}$`));
  });

  it('a world-readable file (0644) is refused with the chmod that fixes it', () => {
    assertRefused(`${A_KEY}\n`, 0o644, new RegExp(`\\(mode 0644\\): run chmod 600 ${keyPath}$`));
  });

  it('a file others may write (0602, 0620) is refused too', () => {
    assertRefused(`${A_KEY}\n`, 0o602, /run chmod 600/);
    assertRefused(`${A_KEY}\n`, 0o620, /run chmod 600/);
  });

  it('a crash mid-write leaves no half key: a leftover temporary file is ignored and a whole key is made', () => {
    const leftover = join(dataDir, '.secret.key.4242.0123456789ab.tmp');
    writeFileSync(leftover, 'half-writ', { mode: 0o600 });
    const secret = loadSecret({ dataDir, secret: undefined });
    assert.match(secret, /^[A-Za-z0-9+/]{43}=$/);
    assert.equal(readFileSync(keyPath, 'utf8'), `${secret}\n`);
    assert.equal(readFileSync(leftover, 'utf8'), 'half-writ');
  });

  it('the loser of a race never replaces the winner: writeFileOnce keeps the first key', () => {
    assert.equal(writeFileOnce(keyPath, 'first key, written whole\n'), true);
    assert.equal(writeFileOnce(keyPath, 'second key, must not land\n'), false);
    assert.equal(readFileSync(keyPath, 'utf8'), 'first key, written whole\n');
    assert.equal(statSync(keyPath).mode & 0o077, 0);
    assert.deepEqual(readdirSync(dataDir), ['secret.key'], 'both temporary files removed');
  });

  it('two processes starting at once on a fresh directory end with one key, read by both', async () => {
    const fresh = join(dataDir, 'data');
    const child = `
      import { createInterface } from 'node:readline';
      import { loadSecret } from ${JSON.stringify(new URL('../src/secret-key.ts', import.meta.url).href)};
      process.stdout.write('ready\\n');
      createInterface({ input: process.stdin }).once('line', () => {
        process.stdout.write(JSON.stringify(loadSecret({ dataDir: ${JSON.stringify(fresh)}, secret: undefined })) + '\\n');
        process.exit(0);
      });
    `;
    const children = [1, 2, 3].map(() => {
      const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
        cwd: REPO_ROOT,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      return { proc, lines: createInterface({ input: proc.stdout })[Symbol.asyncIterator]() };
    });
    // Every child has loaded the module before any of them starts: they race on the file only.
    for (const c of children) assert.equal((await c.lines.next()).value, 'ready');
    for (const c of children) c.proc.stdin.end('go\n');
    const secrets = await Promise.all(children.map(async (c) => JSON.parse(String((await c.lines.next()).value)) as string));
    assert.equal(new Set(secrets).size, 1, 'one key');
    assert.equal(readFileSync(join(fresh, 'secret.key'), 'utf8'), `${secrets[0]}\n`);
    assert.deepEqual(readdirSync(fresh), ['secret.key'], 'no temporary file left behind');
  });

  it('TOKENBOX_SECRET wins without touching the data directory', () => {
    assert.equal(loadSecret({ dataDir, secret: A_KEY }), A_KEY);
    assert.deepEqual(readdirSync(dataDir), []);
    writeFileSync(keyPath, '', { mode: 0o644 });
    assert.equal(loadSecret({ dataDir, secret: A_KEY }), A_KEY, 'even a broken secret.key is not read');
    assert.equal(statSync(keyPath).mode & 0o777, 0o644);
    const missing = join(dataDir, 'never-made');
    assert.equal(loadSecret({ dataDir: missing, secret: A_KEY }), A_KEY);
    assert.equal(existsSync(missing), false);
  });
});
