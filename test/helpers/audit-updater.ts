/**
 * A child process for test/audit-crash.test.ts: updates one token through the SQLite store, each
 * update with its audit entry, as fast as it can, until it is killed. Prints `ready` once it runs.
 * argv: <data dir> <username> <token id>
 */
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const [dataDir, username, id] = process.argv.slice(2) as [string, string, string];
const store = openSqliteStore(dataDir);
await store.migrate();
let n = 0;
process.stdout.write(`ready ${join(dataDir)}\n`);
for (;;) {
  n += 1;
  const at = Date.now();
  await store.updateToken(username, id, { note: `update ${n}` }, at, {
    at,
    actor: { kind: 'cli', id: null },
    account: username,
    action: 'token.update',
    target: id,
    ip: null,
  });
}
