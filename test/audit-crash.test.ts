/**
 * An audit entry and its change are never apart (SPEC §10): a process updating a token in a loop
 * is killed with SIGKILL several times, mid-write; after each restart the store holds exactly as
 * many `token.update` entries as `update` changes in the change log.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { makeDefaultToken, makeToken } from './store-contract.js';
import { ROOT } from './helpers/cli.js';

const UPDATER = join(ROOT, 'test', 'helpers', 'audit-updater.ts');

/**
 * Starts the updater (in this node process's child itself, `--import tsx`: the tsx CLI would put a
 * second process under it that a SIGKILL to the first leaves running), lets it run `ms` after it
 * is ready, then SIGKILLs it.
 */
async function runAndKill(dataDir: string, id: string, ms: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', UPDATER, dataDir, 'alice', id], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the updater exited early (${code})`)));
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
  });
  child.removeAllListeners('exit');
  await new Promise((resolve) => setTimeout(resolve, ms));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

it('kill -9 in a loop of audited updates: the token.update entries always equal the update changes', { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-audit-crash-'));
  try {
    const token = makeToken('alice');
    const setup = openSqliteStore(dataDir);
    await setup.migrate();
    await setup.createAccount({ username: 'alice', created: Date.now() }, makeDefaultToken('alice'));
    await setup.insertToken(token, 100);
    await setup.close();
    let previous = 0;
    for (const ms of [150, 300, 70, 500, 220]) {
      await runAndKill(dataDir, token.id, ms);
      const store = openSqliteStore(dataDir);
      try {
        const updates = (await store.changesSince(0, 10_000_000)).filter((c) => c.kind === 'update').length;
        let audited = 0;
        let before: number | undefined;
        for (;;) {
          const page = await store.listAudit({ action: 'token.update', limit: 1000, ...(before !== undefined && { before }) });
          audited += page.length;
          if (page.length < 1000) break;
          before = page.at(-1)!.id;
        }
        assert.equal(audited, updates, `after a kill at ${ms} ms`);
        assert.ok(updates > previous, 'the updater made progress');
        previous = updates;
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
