/**
 * `tokenbox serve`: the HTTP server until SIGTERM or SIGINT. A second signal (sent to an `npx`
 * process group, the signal reaches npm and node alike) does not cut the shutdown short; a timer
 * guarantees the exit within 10 s. On the way out, `app.close()` writes the usage counted since
 * the last flush, after the server has stopped taking requests and before the store closes.
 */
import { buildMetricsServer, buildServer, createMetrics, stdoutDestination } from '../http/server.js';
import type { Tokenbox } from '../main.js';
import type { CliIo } from './io.js';

const SHUTDOWN_DEADLINE_MS = 9_000;

export async function serve(app: Tokenbox, io: CliIo): Promise<number> {
  const logs = stdoutDestination();
  const flushLogs = (): void => {
    try {
      logs.flushSync();
    } catch {
      // Nothing more can be done for a log that cannot be written while the process exits.
    }
  };
  process.once('exit', flushLogs);
  // Metrics (SPEC §10) only with `metricsPort`, on that port only.
  const metrics = app.config.metricsPort === undefined ? undefined : createMetrics(app);
  const server = buildServer(app, { logDestination: logs, ...(metrics && { counters: metrics.counters }) });
  const metricsServer = metrics && buildMetricsServer(metrics);
  // A follower that cannot read the change log leaves this node's caches stale: say so once,
  // and once more when it recovers (/health shows it meanwhile).
  app.directory.follower.onHealthChange(
    (error) => server.log.error({ err: error }, 'the change log cannot be read; revocations from other processes are not seen until it can'),
    () => server.log.info('the change log is read again'),
  );
  // A usage flush that fails keeps its counts for the next one: say so once per streak.
  app.usage.onHealthChange(
    (error) => server.log.error({ err: error }, 'usage counts cannot be written; they are kept in memory and retried'),
    () => server.log.info('usage counts are written again'),
  );
  // Redis unreachable: each node limits alone until it is back (once each way; /health shows it).
  app.onRateLimitModeChange((event, error) =>
    event === 'local'
      ? server.log.error({ err: error }, 'rate limits cannot be counted in Redis; each node limits alone until it can')
      : server.log.info('rate limits are counted in Redis again'),
  );
  app.startHousekeeping((error) =>
    server.log.warn({ err: error }, 'housekeeping (expired sessions, old audit and change-log entries) failed; the next run tries again'),
  );
  const listening: { close(): Promise<unknown> }[] = [];
  for (const [what, instance, port] of [
    ['', server, app.config.port],
    [' for metrics', metricsServer, app.config.metricsPort],
  ] as const) {
    if (instance === undefined || port === undefined) continue;
    try {
      await instance.listen({ host: app.config.host, port });
      listening.push(instance);
    } catch (error) {
      for (const other of listening) await other.close();
      await app.close();
      io.err(`cannot listen${what} on ${app.config.host}:${port}: ${(error as NodeJS.ErrnoException).code ?? 'error'}.`);
      return 1;
    }
  }
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      server.log.info({ signal }, 'shutting down');
      setTimeout(() => resolve(1), SHUTDOWN_DEADLINE_MS).unref();
      Promise.all([server.close(), metricsServer?.close()])
        .then(() => app.close())
        .then(
          () => resolve(0),
          () => resolve(1),
        );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
