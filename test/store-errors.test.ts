/**
 * Each store adapter speaks only the error catalogue (STYLE): a store that cannot be reached
 * rejects with AppError('unavailable') carrying the driver's error as its cause, so the HTTP
 * mapper never sees a driver code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AppError } from '../src/domain/errors.js';
import { toHttpError } from '../src/http/error-mapper.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import type { Store } from '../src/store/port.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';

const backends: Array<[string, () => Promise<{ store: Store; cleanup: () => void }>]> = [
  ['memory', async () => ({ store: new MemoryStore(), cleanup: () => undefined })],
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tokenbox-store-errors-'));
      const store = openSqliteStore(dir);
      await store.migrate();
      return { store, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
];

for (const [name, open] of backends) {
  describe(`${name}: a closed store`, () => {
    it('rejects reads and writes with AppError unavailable (503), the cause kept for the log', async () => {
      const { store, cleanup } = await open();
      try {
        await store.close();
        for (const call of [
          () => store.ping(),
          () => store.getAccount('alice'),
          () => store.latestChangeSeq(),
          () => store.deleteToken('alice', 'c000000000000000000000000', 0),
        ]) {
          const error = await call().then(
            () => assert.fail('resolved'),
            (e: unknown) => e,
          );
          assert.ok(error instanceof AppError, String(error));
          assert.equal(error.code, 'unavailable');
          assert.ok(error.cause !== undefined, 'the driver error is kept as the cause');
          assert.deepEqual(toHttpError(error), { status: 503, message: 'Service Unavailable', unexpected: true });
        }
      } finally {
        cleanup();
      }
    });
  });
}

it('the mapper knows no driver codes: an unknown error with a SQLite code is a bare 500', () => {
  assert.deepEqual(toHttpError(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })), {
    status: 500,
    message: 'Internal Server Error',
    unexpected: true,
  });
});
