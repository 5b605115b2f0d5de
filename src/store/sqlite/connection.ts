/**
 * Opening the SQLite file: its permissions (SPEC §2: the data directory 0700, the database files
 * 0600) and the connection's settings, chosen on purpose and in this order.
 */
import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BUSY_TIMEOUT_MS, isLockError } from './retry-while-locked.js';

const DATABASE_FILE = 'tokenbox.db';

/**
 * Creates the data directory (0700) if it is missing and the database file (0600) before SQLite
 * opens it, so the file is never readable by others, not even for a moment; SQLite gives the
 * `-wal` and `-shm` files it creates the main file's permissions. A file left wider by an older
 * version, or by hand, is narrowed to 0600, and so are its `-wal` and `-shm` if they exist. An
 * existing directory keeps its mode (the operator chose it; the files inside are private).
 * Returns the database file's path.
 */
export function preparePrivateFiles(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, DATABASE_FILE);
  narrowToOwner(file, true);
  narrowToOwner(`${file}-wal`, false);
  narrowToOwner(`${file}-shm`, false);
  return file;
}

/** Creates `path` with mode 0600 when `create`, else only if it exists; chmods it to 0600 when wider. */
function narrowToOwner(path: string, create: boolean): void {
  let fd: number;
  try {
    // 'a' (O_CREAT without O_TRUNC) never changes an existing file's bytes.
    fd = openSync(path, create ? 'a' : 'r+', 0o600);
  } catch (error) {
    if (!create && (error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

/** Opens the file and configures the connection; closes it again if configuring fails. */
export function openDatabase(filePath: string, lockWaitMs: number): Database.Database {
  const db = new Database(filePath);
  try {
    configure(db, lockWaitMs);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function configure(db: Database.Database, lockWaitMs: number): void {
  // busy_timeout first, and short: another process (a CLI command beside `serve`, a second
  // `serve`) may hold a lock. SQLite waits for it synchronously, freezing the event loop, so it
  // waits only BUSY_TIMEOUT_MS; the store then retries the whole call asynchronously
  // (retry-while-locked.ts), and no request waits behind another's lock.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // WAL: readers never block the writer nor the writer readers, so verification reads and the
  // change-log poll keep flowing during writes. The mode is stored in the file.
  switchToWal(db, lockWaitMs);
  // NORMAL in WAL mode survives a process crash; a power cut may lose the last commits but
  // never corrupts the file. FULL would fsync on every commit, on the token write path.
  db.pragma('synchronous = NORMAL');
  // Off by default and per connection: without it `tokens.username → accounts` is not enforced.
  db.pragma('foreign_keys = ON');
}

/**
 * `journal_mode = WAL` on a fresh file needs an exclusive lock and does not wait through
 * busy_timeout: when several processes open a new data directory at the same moment (`serve` and
 * a CLI command), the losers get SQLITE_BUSY at once. They retry for up to `lockWaitMs`. This is
 * the one synchronous wait left: it happens while the store opens, before anything is served
 * (the caller's open is synchronous), and only on a file not yet in WAL mode.
 */
function switchToWal(db: Database.Database, lockWaitMs: number): void {
  const deadline = Date.now() + lockWaitMs;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if (!isLockError(error) || Date.now() > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}
