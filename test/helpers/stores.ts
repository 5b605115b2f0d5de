/**
 * Fresh stores for the contract suites (store and transfer): memory, a temp SQLite directory, a
 * PostgreSQL schema of its own, each with the cleanup that removes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { SQL_MIGRATIONS } from '../store-contract.js';
import { createTestSchema } from './postgres.js';

export interface Opened<S> {
  readonly store: S;
  readonly cleanup: () => Promise<void>;
  /** The migrations a fresh store's first `migrate` applies. */
  readonly migrations: readonly string[];
}

export async function openedMemoryStore(): Promise<Opened<MemoryStore>> {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close(), migrations: [] };
}

export async function openedSqliteStore(): Promise<Opened<SqliteStore>> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenbox-store-'));
  const store = openSqliteStore(dir);
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
    migrations: SQL_MIGRATIONS,
  };
}

export async function openedPostgresStore(): Promise<Opened<PostgresStore>> {
  const schema = await createTestSchema();
  const store = openPostgresStore(schema.url);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await schema.drop();
    },
    migrations: SQL_MIGRATIONS,
  };
}
