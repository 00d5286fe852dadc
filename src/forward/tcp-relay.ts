/**
 * The TCP relay of forwarding mode (issue 12): one connection the stack terminated, spliced to a
 * socket of the kernel's (node:net) to the same destination, byte for byte in both directions.
 *
 * - Backpressure both ways: from the stack, the next chunk is read only when the kernel socket
 *   took the last one (`write()` returned true, or 'drain'); toward the stack, the kernel socket
 *   is paused while `TcpConn.write` waits for room in the send buffer. Neither side buffers more
 *   than one chunk in the relay, so a slow reader slows its writer down through TCP's windows.
 * - Half-close carried across (RFC 9293 3.6: each direction closes on its own): the client's FIN
 *   (a read of null) becomes `end()` on the kernel socket, the server's FIN ('end') becomes
 *   `closeWrite()` on the stack side; the flow ends when both directions have.
 * - A reset carried across: a RST from the client (ECONNRESET on read) resets the kernel socket
 *   (`resetAndDestroy`), a kernel socket error resets the client (`destroy()`, RST).
 *
 * The relay owns both ends once called and settles when both are closed, with the bytes moved
 * each way and how it ended. The kernel socket must be made with `allowHalfOpen: true`, or Node
 * ends its writing side by itself on the server's FIN and the client's direction is cut short.
 */
import type { Socket } from 'node:net';
import type { TcpConn } from '../api/tcp.js';
import { NetError } from '../errors.js';

/** The kernel side: a node:net Socket, or anything with its stream and reset surface. */
export type KernelSocket = Pick<Socket, 'write' | 'end' | 'destroy' | 'pause' | 'resume' | 'on' | 'once' | 'off' | 'destroyed'> & {
  /** Close with a RST (net.Socket's); without it a reset of the client only destroys the socket. */
  resetAndDestroy?: () => unknown;
};

/** How a relayed flow ended. */
export type RelayEnd =
  /** Both directions finished with a FIN. */
  | 'closed'
  /** The client reset (or the stack aborted) the connection; the kernel socket was reset. */
  | 'client_reset'
  /** The kernel socket failed (reset by the server, or an error); the client was reset. */
  | 'server_reset'
  /** The relay was told to stop (shutdown, idle limit); both ends were reset. */
  | 'aborted';

/** What relayTcp resolves to once both ends are closed. */
export interface RelayResult {
  /** How the flow ended. */
  end: RelayEnd;
  /** Bytes from the client (the stack side) to the server (the kernel side). */
  bytesToServer: number;
  /** Bytes from the server to the client. */
  bytesToClient: number;
}

/** Options of relayTcp. */
export interface RelayOptions {
  /** Largest chunk read from the stack side at once. */
  chunkBytes?: number;
  /** Ends the flow with both sides reset (shutdown of the forwarder). */
  signal?: AbortSignal;
}

/** Splice `client` (a connection the stack accepted) and `server` (a connected kernel socket). */
export function relayTcp(client: TcpConn, server: KernelSocket, options: RelayOptions = {}): Promise<RelayResult> {
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  const result: RelayResult = { end: 'closed', bytesToServer: 0, bytesToClient: 0 };
  let finished = false;
  let clientDone = false;
  let serverDone = false;
  let serverEnded = false;

  return new Promise<RelayResult>((resolve) => {
    /** End the flow once: `how` says which side failed; the other is reset. */
    const finish = (how: RelayEnd): void => {
      if (finished) return;
      finished = true;
      result.end = how;
      options.signal?.removeEventListener('abort', onAbort);
      server.off('data', onServerData);
      if (how === 'closed') {
        closeQuietly(client);
        server.destroy();
      } else {
        client.destroy();
        if (server.resetAndDestroy !== undefined && !server.destroyed) server.resetAndDestroy();
        else server.destroy();
      }
      resolve(result);
    };
    const onAbort = (): void => finish('aborted');
    if (options.signal?.aborted) {
      finish('aborted');
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });

    // Server to client: pause the kernel socket while the stack's send buffer is full.
    let writing = Promise.resolve();
    const onServerData = (chunk: Buffer): void => {
      server.pause();
      writing = writing.then(async () => {
        if (finished) return;
        try {
          await client.write(chunk);
          result.bytesToClient += chunk.length;
          if (!finished) server.resume();
        } catch {
          // The client is gone (reset, or closed under us): nothing more can reach it.
          finish('client_reset');
        }
      });
    };
    server.on('data', onServerData);
    server.once('end', () => {
      serverEnded = true;
      // The server's FIN, after every byte before it has gone into the client's send buffer.
      void writing.then(() => {
        if (finished) return;
        client.closeWrite();
        serverDone = true;
        if (clientDone) finish('closed');
      });
    });
    server.once('error', () => finish('server_reset'));
    server.once('close', () => {
      // A close without 'end' or 'error' first (destroyed by someone else) is a failure too.
      if (!serverEnded) finish('server_reset');
    });

    // Client to server: read a chunk, hand it over, wait for 'drain' when the socket is full.
    void (async () => {
      try {
        for (;;) {
          const chunk = await client.readChunk(chunkBytes);
          if (finished) return;
          if (chunk === null) break;
          result.bytesToServer += chunk.length;
          if (!server.write(chunk)) await drained(server);
          if (finished) return;
        }
        server.end();
        clientDone = true;
        if (serverDone) finish('closed');
      } catch (error) {
        // ECONNRESET (the client's RST) or ECLOSED (the flow was finished meanwhile).
        if (!(error instanceof NetError) || error.code !== 'ECLOSED') finish('client_reset');
      }
    })();
  });
}

/** Wait for 'drain', or for the socket to close or fail (the relay learns of that separately). */
function drained(socket: KernelSocket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** close() that tolerates a connection already closed (it throws ECLOSED then, as Go's Close). */
function closeQuietly(conn: TcpConn): void {
  if (!conn.closed) conn.close();
}
