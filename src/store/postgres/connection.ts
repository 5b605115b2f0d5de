/**
 * Connecting to PostgreSQL: the pool every store call uses and the settings of the one client
 * outside it (the LISTEN connection), chosen on purpose.
 */
import pg from 'pg';
import type { ClientConfig, CustomTypesConfig, Pool, PoolClient } from 'pg';

export interface PostgresOpenOptions {
  /** Connections the pool may open, at least 2 (`runExclusive` holds one while its job uses another). Default 10. */
  readonly poolSize?: number;
  /** How long opening a connection, or waiting for a free one, may take before AppError('unavailable'), in ms. Default 5000. */
  readonly connectTimeoutMs?: number;
  /**
   * How long a statement waits for a lock another session holds (a row, a table, the change-log
   * lock) before it fails with AppError('unavailable'), in ms: PostgreSQL's `lock_timeout`.
   * Default 5000, SQLite's lock wait (SPEC §7: a request never waits behind another's lock for
   * ever). Migrations wait as long as another node's migration takes.
   */
  readonly lockWaitMs?: number;
}

export const DEFAULT_POOL_SIZE = 10;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_LOCK_WAIT_MS = 5000;
/**
 * A session left idle inside a transaction (a process wedged or paused between two statements)
 * is ended by the server after this long, so the locks it holds do not stop every node for ever.
 */
const IDLE_IN_TRANSACTION_MS = 60_000;
/** What the server shows for our connections when the URL names none (`pg_stat_activity.application_name`). */
const APPLICATION_NAME = 'tokenbox';
const INT8_OID = 20;

/**
 * BIGINT (every time, seq and id) comes back as a JS number, not pg's default string. Set on this
 * store's pool and client only, never through the global `pg.types.setTypeParser`, which would
 * change every other pg user in the process. Safe: the values are Unix milliseconds and counters,
 * far below 2^53.
 */
const defaultParser = pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => (value: string) => unknown;
const TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? Number : defaultParser(oid, format)) as typeof pg.types.getTypeParser,
};

function clientConfig(url: string, options: PostgresOpenOptions): ClientConfig {
  return {
    connectionString: url,
    // Used only when the URL sets no application_name: the URL's own wins (pg's rule).
    fallback_application_name: APPLICATION_NAME,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    lock_timeout: options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    // TCP keepalive: a peer gone without a FIN (a failed-over server, a dropped NAT entry) is
    // noticed, so an idle pooled connection or the LISTEN connection does not wait for ever.
    keepAlive: true,
    types: TYPES,
  };
}

/** The pool; nothing connects until the first query. */
export function createPool(url: string, options: PostgresOpenOptions): Pool {
  const max = options.poolSize ?? DEFAULT_POOL_SIZE;
  if (!Number.isInteger(max) || max < 2) throw new RangeError(`poolSize must be an integer of at least 2 (runExclusive holds one connection), got ${max}`);
  const pool = new pg.Pool({
    ...clientConfig(url, options),
    max,
    // An idle pool does not keep a CLI command's process alive if it forgets to close the store.
    allowExitOnIdle: true,
  });
  // An idle client whose connection dies (a server restart, pg_terminate_backend) is emitted here;
  // without a listener Node would crash the process. The pool has already dropped the client and
  // the next query opens a fresh one, so there is nothing to do.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * The LISTEN connection's config: the pool's, with `<application_name>-listen` (`tokenbox-listen`
 * by default), so an operator, or a test, can find it in `pg_stat_activity`. Set in the URL,
 * because pg lets the URL's parameters win over the config object's.
 */
export function listenClientConfig(url: string, options: PostgresOpenOptions): ClientConfig {
  const named = /([?&]application_name=)([^&#]*)/.exec(url);
  const base = named?.[2] !== undefined && named[2] !== '' ? decodeURIComponent(named[2]) : APPLICATION_NAME;
  const name = encodeURIComponent(`${base}-listen`);
  const listenUrl = named !== null ? url.replace(named[0], `${named[1]}${name}`) : `${url}${url.includes('?') ? '&' : '?'}application_name=${name}`;
  return clientConfig(listenUrl, options);
}

/**
 * While a pooled client is held across awaits (an import, an export, a job's lock), its
 * connection may die between queries: pg then emits 'error' on the client, which crashes the
 * process without a listener. The next query on it fails and says so; this only keeps the process up.
 * Returns the detach.
 */
export function guardHeldClient(client: PoolClient): () => void {
  const ignore = (): undefined => undefined;
  client.on('error', ignore);
  return () => client.removeListener('error', ignore);
}
