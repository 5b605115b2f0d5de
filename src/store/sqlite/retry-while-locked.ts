/**
 * Waiting for another process's SQLite lock without stopping the event loop (SPEC §7).
 *
 * better-sqlite3 is synchronous: while SQLite's busy handler sleeps waiting for a lock, the whole
 * process sleeps with it — no request is answered, no timer fires. A `tokenbox tokens create`
 * beside `serve`, or a second `serve` on the same file, holds the write lock for a moment; with
 * a busy_timeout of seconds, every request in flight would freeze for that moment. So the
 * connection's busy_timeout stays short (BUSY_TIMEOUT_MS: the longest the event loop ever waits
 * inside SQLite), and a call that still finds the lock taken is retried here, between turns of
 * the event loop, until LOCK_WAIT_MS has passed; then it fails with the catalogue's
 * `unavailable` (503), never with a driver code.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../../domain/errors.js';

/** SQLite's own (synchronous) wait for a lock, per attempt, in ms. */
export const BUSY_TIMEOUT_MS = 10;
/** How long a call keeps retrying a lock held by another process before answering 503, in ms. */
export const LOCK_WAIT_MS = 5000;
/** The first pause between attempts; it doubles up to MAX_DELAY_MS. */
const FIRST_DELAY_MS = 5;
const MAX_DELAY_MS = 100;

/**
 * SQLITE_BUSY (another connection holds a lock this one needs, including the extended
 * `_RECOVERY`/`_SNAPSHOT`/`_TIMEOUT` codes) and SQLITE_LOCKED (a conflict inside a connection
 * or a shared cache): both mean "try again later", never "this request is wrong".
 */
export function isLockError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)(_|$)/.test(code);
}

/**
 * Runs `attempt` until it does not fail with a lock error, pausing asynchronously between tries
 * (5 ms doubling to 100 ms, each pause drawn from its upper half so processes that collided do
 * not retry in step). After `waitMs` it throws AppError('unavailable').
 *
 * `attempt` must be all-or-nothing: a whole IMMEDIATE transaction (better-sqlite3 rolls it back
 * when it throws, and a BUSY at BEGIN means it never started) or a single read. Each try
 * re-runs it from the start, so a check-then-write sees the state it writes against.
 */
export async function retryWhileLocked<R>(attempt: () => R, waitMs: number = LOCK_WAIT_MS): Promise<R> {
  const deadline = performance.now() + waitMs;
  let delay = FIRST_DELAY_MS;
  for (;;) {
    try {
      return attempt();
    } catch (error) {
      if (!isLockError(error)) throw translate(error);
      const left = deadline - performance.now();
      if (left <= 0) throw new AppError('unavailable', undefined, { cause: error });
      await sleep(Math.min(left, delay / 2 + (Math.random() * delay) / 2));
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}

/**
 * The store speaks the error catalogue (STYLE: each adapter speaks only the catalogue): a file
 * that cannot be opened, read or written, or a closed connection, is `unavailable` (503), with the
 * driver's error kept as the cause for the log. Anything else (a constraint a caller broke) is a
 * bug and stays as it is, for a bare 500.
 */
function translate(error: unknown): unknown {
  const e = typeof error === 'object' && error !== null ? (error as { code?: unknown; message?: unknown }) : {};
  const code = typeof e.code === 'string' ? e.code : '';
  const closed = typeof e.message === 'string' && e.message.includes('database connection is not open');
  if (closed || /^SQLITE_(CANTOPEN|IOERR|READONLY|FULL|NOTADB|CORRUPT|PERM|AUTH|NOMEM)(_|$)/.test(code)) {
    return new AppError('unavailable', undefined, { cause: error });
  }
  return error;
}
