/**
 * The TCP forwarder (issue 12): stack B forwards what stack A dials to foreign addresses, its
 * kernel-side dials redirected to an echo server on 127.0.0.1. Flows relayed, a refused dial
 * resetting the client, the flow cap, close(), and the counters.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from '../../../src/api/net.js';
import { TcpForwarder } from '../../../src/forward/tcp-forwarder.js';
import type { Stack } from '../../../src/stack.js';
import { expectCode, readAll, stackPair, waitFor } from '../../support/stack-pair.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A kernel echo server on 127.0.0.1 (half-close aware); its port. */
async function kernelEcho(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

/** A port on 127.0.0.1 that nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Stacks A and B with a forwarder on B whose dials of any address go to 127.0.0.1:`port`. */
async function forwarding(port: number, maxFlows?: number): Promise<{ a: Stack; b: Stack; forwarder: TcpForwarder; dialled: string[] }> {
  const { a, b } = stackPair();
  const dialled: string[] = [];
  const forwarder = await TcpForwarder.start(b, {
    maxFlows,
    connect: (host, destinationPort) => {
      dialled.push(`${host}:${destinationPort}`);
      return netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    },
  });
  cleanups.push(async () => {
    forwarder.close();
    await a.close(0);
    await b.close(0);
  });
  return { a, b, forwarder, dialled };
}

describe('TcpForwarder', () => {
  it('relays connections to foreign destinations through a kernel socket to the same destination', async () => {
    const { a, b, dialled } = await forwarding(await kernelEcho());
    for (const destination of ['192.0.2.5:80', '198.51.100.7:8443']) {
      const conn = await dial('tcp', destination, { stack: a });
      await conn.write(new TextEncoder().encode(`hello ${destination}`));
      conn.closeWrite();
      expect((await readAll(conn)).toString()).toBe(`hello ${destination}`);
      conn.close();
    }
    expect(dialled).toEqual(['192.0.2.5:80', '198.51.100.7:8443']);
    const counters = b.counters('forward');
    await waitFor(() => counters.get('tcp_flows_closed') === 2);
    expect(counters.get('tcp_flows_opened')).toBe(2);
    expect(counters.get('tcp_flows_open')).toBe(0);
    expect(counters.get('bytes_to_server')).toBe('hello 192.0.2.5:80'.length + 'hello 198.51.100.7:8443'.length);
    expect(counters.get('bytes_to_client')).toBe(counters.get('bytes_to_server'));
  });

  it('resets the client when the destination refuses', async () => {
    const { a, b } = await forwarding(await closedPort());
    const conn = await dial('tcp', '192.0.2.5:81', { stack: a });
    await expectCode(readAll(conn), 'ECONNRESET');
    expect(b.counters('forward').get('tcp_dials_refused')).toBe(1);
    expect(b.counters('forward').get('tcp_flows_open')).toBe(0);
  });

  it('resets connections beyond the flow cap, and every open flow on close()', async () => {
    const { a, b, forwarder } = await forwarding(await kernelEcho(), 1);
    const first = await dial('tcp', '192.0.2.5:80', { stack: a });
    await first.write(new Uint8Array([1]));
    expect((await first.readChunk())?.length).toBe(1);
    expect(forwarder.openFlows).toBe(1);
    const second = await dial('tcp', '192.0.2.6:80', { stack: a });
    await expectCode(readAll(second), 'ECONNRESET');
    expect(b.counters('forward').get('tcp_over_limit')).toBe(1);
    forwarder.close();
    await expectCode(readAll(first), 'ECONNRESET');
    await waitFor(() => forwarder.openFlows === 0);
    expect(b.counters('forward').get('tcp_flows_aborted')).toBe(1);
  });
});
