/**
 * A fresh PostgreSQL schema per test: created through an admin connection, handed out as a URL
 * whose `options` parameter sets `search_path` to it (pg passes `options` in the startup message,
 * so every connection of the store, the LISTEN one included, works in that schema), and dropped
 * with everything in it afterwards. The server: TOKENBOX_TEST_DATABASE_URL, else
 * postgres://postgres@127.0.0.1:5432/test (trust auth).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.TOKENBOX_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  /** `tb_<hex>`; also the URL's application_name, so a test can find this schema's connections. */
  readonly name: string;
  readonly url: string;
  readonly drop: () => Promise<void>;
}

/** Runs `sql` on a short-lived admin connection. */
export async function adminQuery<R>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(sql, params as unknown[])).rows as R[];
  } finally {
    await client.end();
  }
}

/** Why PostgreSQL cannot be used here, or null when it answers. */
export async function postgresMissing(): Promise<string | null> {
  try {
    await adminQuery('SELECT 1');
    return null;
  } catch (error) {
    return `PostgreSQL at ${TEST_DATABASE_URL.replace(/\/\/[^@/]*@/, '//')} does not answer (${error instanceof Error ? error.message : String(error)}); set TOKENBOX_TEST_DATABASE_URL`;
  }
}

/** The URL of `schema` on the test server, named `schema` in pg_stat_activity. */
export function schemaUrl(schema: string): string {
  const separator = TEST_DATABASE_URL.includes('?') ? '&' : '?';
  return `${TEST_DATABASE_URL}${separator}options=${encodeURIComponent(`-c search_path=${schema}`)}&application_name=${schema}`;
}

export async function createTestSchema(): Promise<TestSchema> {
  const name = `tb_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE SCHEMA ${name}`);
  return { name, url: schemaUrl(name), drop: () => adminQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`).then(() => undefined) };
}
