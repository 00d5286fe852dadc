/**
 * connect(): net.connect for the stack. It returns a socket at once and connects in the
 * background, which is what http.Agent's createConnection, tls.connect({ socket }) and undici's
 * connect option want: writes wait in the stream until the handshake completes, then 'connect'
 * and 'ready' fire; a failure is one 'error' (a NetError: ECONNREFUSED, ETIMEDOUT, ENOTFOUND,
 * ...) and 'close', with no 'connect', as net.connect does.
 */
import { dial, type DialOptions } from './net.js';
import { TcpDuplex, type DuplexOptions } from './duplex.js';

/** Options of `connect()`: those of `dial()` and of `toDuplex()`. */
export interface ConnectOptions extends DialOptions, DuplexOptions {}

/** connect('10.0.0.1:80') or connect('localhost:80', { resolver }): a TcpDuplex, connecting. */
export function connect(address: string, options: ConnectOptions = {}): TcpDuplex {
  // Destroying the socket while it connects ends the dial too; the caller's signal still counts.
  const abortConnect = new AbortController();
  const signal = options.signal === undefined ? abortConnect.signal : AbortSignal.any([options.signal, abortConnect.signal]);
  const socket = new TcpDuplex(undefined, { allowHalfOpen: options.allowHalfOpen, abortConnect });
  dial('tcp', address, { ...options, signal }).then(
    (conn) => socket.attach(conn),
    (error: unknown) => {
      socket.connecting = false;
      if (!socket.destroyed) socket.destroy(error instanceof Error ? error : new Error(String(error)));
    },
  );
  return socket;
}
