/**
 * Export and import (SPEC §8): the transfer contract on memory and SQLite, what only SQLite has
 * (the snapshot's own connection), and the service's file format against hostile input.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { SQL_MIGRATIONS } from './store-contract.js';
import { runTransferContract } from './transfer-contract.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tokenbox-transfer-'));
}

runTransferContract('memory', async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close(), migrations: [] };
});

runTransferContract('sqlite', async () => {
  const dir = tempDir();
  const store = openSqliteStore(dir);
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
    migrations: SQL_MIGRATIONS,
  };
});
