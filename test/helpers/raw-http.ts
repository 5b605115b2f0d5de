/**
 * A raw HTTP/1.1 exchange over a socket: the request bytes exactly as given (odd methods,
 * absolute-form targets, dot segments that fetch and inject would resolve first), the whole
 * response as latin1 text once the server closes the connection.
 */
import { connect } from 'node:net';

export function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.from(bytes, 'latin1')));
    let out = '';
    socket.on('data', (chunk: Buffer) => (out += chunk.toString('latin1')));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}
