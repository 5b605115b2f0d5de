/**
 * SPEC §8: `serve` stops on SIGTERM within 10 s even when a client keeps a request open. A client
 * that sends half a body and stalls holds its connection, so a graceful close alone would wait for
 * ever; the shutdown deadline must end the process all the same, and what tokenbox holds is
 * flushed first (the log line that says it is shutting down is there).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { it } from 'node:test';
import { cli, e2eDataDir, ensureBuilt, startServer, stopServer } from './helpers/cli.js';

const dataDir = e2eDataDir('tokenbox-shutdown-');

it('SIGTERM with a stalled request in flight: exits within 10 s, after the deadline, not before the stall ends', { timeout: 30_000 }, async () => {
  ensureBuilt();
  assert.equal((await cli(['accounts', 'create', 'alice', '--data', dataDir])).code, 0);
  const server = await startServer(dataDir);
  const { port } = new URL(server.origin);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  // Headers promise 1,000 bytes; one arrives. The request is in flight until the rest comes.
  socket.write('POST /tokens/v2/alice HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
  // The POST's own line (the start-up /health poll logged one too): the request is in flight.
  await server.waitForOutput(/"method":"POST"[^\n]*incoming request/);
  const exit = await stopServer(server, ['SIGTERM'], 0, 12_000);
  socket.destroy();
  assert.ok(exit.ms <= 10_000, `exited after ${exit.ms} ms`);
  assert.ok(exit.ms >= 5_000, `exited after ${exit.ms} ms: the stalled request was cut short without waiting for it`);
  assert.match(server.output(), /shutting down/);
});
