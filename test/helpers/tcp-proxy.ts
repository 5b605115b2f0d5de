/**
 * A TCP proxy for outage tests: point a client (Redis, PostgreSQL) at `port` instead of the
 * server, then `cut()` to make the server unreachable and `restore()` to bring it back, without
 * touching the shared server itself.
 *
 * A cut resets every open connection, both sides, and resets each new one as soon as it is
 * accepted; the proxy keeps listening, so the port stays its own and `restore()` cannot lose it.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  /** The port on 127.0.0.1 that leads to the target. */
  readonly port: number;
  /** Destroys every open connection and refuses new ones until `restore()`. */
  cut(): void;
  /** Passes new connections to the target again. */
  restore(): void;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let isCut = false;
  const track = (socket: Socket): void => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };
  const server = createServer((client) => {
    if (isCut) return reset(client);
    const upstream = connect(targetPort, targetHost);
    track(client);
    track(upstream);
    // Either side failing or ending takes the other with it, as a dropped link would.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port');
  const destroyAll = (): void => {
    for (const socket of open) reset(socket);
    open.clear();
  };
  return {
    port: address.port,
    cut: () => {
      isCut = true;
      destroyAll();
    },
    restore: () => {
      isCut = false;
    },
    close: () => {
      destroyAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Ends a connection with a TCP reset, as a vanished server or a firewall would. */
function reset(socket: Socket): void {
  socket.on('error', () => undefined);
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
