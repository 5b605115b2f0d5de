/**
 * The store contract against PostgreSQL (each test in a fresh schema), plus what only PostgreSQL
 * has: advisory-lock migrations, LISTEN/NOTIFY, the change log's seq visibility, job locks across
 * stores, the pool, error translation, and export → import.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import { createTestSchema, postgresMissing } from './helpers/postgres.js';
import { runStoreContract, SQL_MIGRATIONS } from './store-contract.js';

const missing = await postgresMissing();

if (missing !== null && process.env.CI) {
  test('PostgreSQL answers (required when CI is set)', () => {
    assert.fail(missing);
  });
} else if (missing !== null) {
  // A skipped describe() counts no test as skipped: report one skipped test, with the reason.
  test(`store contract and PostgreSQL store tests: skipped, ${missing}`, { skip: missing }, () => undefined);
} else {
  runStoreContract('postgres', async () => {
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
  });
}
