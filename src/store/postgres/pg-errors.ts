/**
 * The PostgreSQL store speaks the error catalogue (STYLE: each adapter speaks only the catalogue):
 * whatever says "the database cannot answer now" becomes AppError('unavailable') (503) with the
 * driver's error kept as the cause for the log. A constraint a caller broke (a duplicate hash, a
 * token of a missing account) stays the driver's error: the contract expects a rejection, and the
 * services never send one on purpose, so it is a bug and a bare 500.
 */
import { AppError } from '../../domain/errors.js';

/** Socket-level failures: the server is down, unreachable, or the connection broke. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * SQLSTATEs of a server that cannot serve now: admin/crash shutdown and "cannot connect now"
 * (57P01-57P03), every connection exception (class 08), too many connections (53300) and the
 * other insufficient-resources codes (class 53: disk full, out of memory), and a lock another
 * session held past `lock_timeout` (55P03), as SQLite's lock wait ends in 503.
 */
function isUnavailableState(code: string): boolean {
  return code === '57P01' || code === '57P02' || code === '57P03' || code === '55P03' || code.startsWith('08') || code.startsWith('53');
}

/** Messages pg and pg-pool throw without a code. */
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Cannot use a pool after calling end on the pool',
  'Client was closed and is not queryable',
  'Connection ended unexpectedly',
];

function fields(error: unknown): { code: string; message: string } {
  if (typeof error !== 'object' || error === null) return { code: '', message: '' };
  const { code, message } = error as { code?: unknown; message?: unknown };
  return { code: typeof code === 'string' ? code : '', message: typeof message === 'string' ? message : '' };
}

/** True when the error means the database cannot answer now (nothing about the request is wrong). */
export function isUnavailable(error: unknown): boolean {
  const { code, message } = fields(error);
  if (NETWORK_CODES.has(code) || (code.length === 5 && isUnavailableState(code))) return true;
  return UNAVAILABLE_MESSAGES.some((text) => message.includes(text));
}

/**
 * A serialization failure or a deadlock: PostgreSQL rolled the transaction back and asks for it
 * to be run again. READ COMMITTED (the store's level) only meets deadlocks, between writers that
 * lock rows in different orders (a usage flush and an account delete).
 */
export function isRetryable(error: unknown): boolean {
  const { code } = fields(error);
  return code === '40001' || code === '40P01';
}

/** The catalogue's form of a driver error; anything else is returned as it is. */
export function translate(error: unknown): unknown {
  if (error instanceof AppError) return error;
  return isUnavailable(error) ? new AppError('unavailable', undefined, { cause: error }) : error;
}

/** The error a closed store answers with. */
export function closedStore(): AppError {
  return new AppError('unavailable', undefined, { cause: new Error('the PostgreSQL store is closed') });
}
