/**
 * The forwarding relay (issue 12): a connection accepted by one stack in memory, spliced to a
 * kernel TCP socket on 127.0.0.1. Bytes both ways, half-close each way, resets each way, and
 * backpressure that keeps the relay's own buffering to about one chunk.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { dial, listen } from '../../../src/api/net.js';
import type { TcpConn } from '../../../src/api/tcp.js';
import { relayTcp, type RelayOptions, type RelayResult } from '../../../src/forward/tcp-relay.js';
import { expectCode, pattern, readAll, stackPair, waitFor } from '../../support/stack-pair.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A kernel server on 127.0.0.1 whose connections go to `onConnection`; half-open allowed. */
async function kernelServer(onConnection: (socket: Socket) => void): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * Client on stack A dials stack B, which relays the accepted connection to the kernel server on
 * `port`. Returns the client, the relay's result, and the relay's kernel socket.
 */
async function relayedClient(
  port: number,
  options: RelayOptions = {},
): Promise<{ client: TcpConn; relay: Promise<RelayResult>; upstream: Socket }> {
  const { a, b } = stackPair();
  cleanups.push(async () => {
    await a.close(0);
    await b.close(0);
  });
  const listener = await listen('tcp', ':80', { stack: b });
  const accepting = listener.accept();
  const client = await dial('tcp', '10.0.0.2:80', { stack: a });
  const accepted = await accepting;
  listener.close();
  const upstream = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    upstream.once('connect', resolve);
    upstream.once('error', reject);
  });
  const relay = relayTcp(accepted, upstream, options);
  return { client, relay, upstream };
}

/** Everything a kernel socket receives until its peer's FIN. */
function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => socket.once('end', () => resolve(Buffer.concat(chunks))));
}

describe('relayTcp', () => {
  it('moves 1 MiB each way byte for byte and ends closed when both sides have sent FIN', async () => {
    const upload = pattern(1 << 20, 1);
    const download = pattern(1 << 20, 2);
    let received: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    const port = await kernelServer((socket) => {
      received = collect(socket);
      socket.end(download);
    });
    const { client, relay } = await relayedClient(port);
    const reading = readAll(client);
    await client.write(upload);
    client.closeWrite();
    expect(Buffer.from(download).equals(await reading)).toBe(true);
    const result = await relay;
    expect(Buffer.from(upload).equals(await received)).toBe(true);
    expect(result).toEqual({ end: 'closed', bytesToServer: upload.length, bytesToClient: download.length });
    client.close();
  });

  it("carries the client's half-close: the server reads to its end, then answers", async () => {
    const port = await kernelServer((socket) => {
      void collect(socket).then((request) => socket.end(`got ${request.length} bytes`));
    });
    const { client, relay } = await relayedClient(port);
    await client.write(new TextEncoder().encode('request body'));
    client.closeWrite();
    expect((await readAll(client)).toString()).toBe('got 12 bytes');
    expect((await relay).end).toBe('closed');
    client.close();
  });

  it("carries the server's half-close: the client still sends after reading the server's FIN", async () => {
    let received: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    const port = await kernelServer((socket) => {
      received = collect(socket);
      socket.end('banner, then goodbye');
    });
    const { client, relay } = await relayedClient(port);
    expect((await readAll(client)).toString()).toBe('banner, then goodbye');
    await client.write(new TextEncoder().encode('late words'));
    client.closeWrite();
    expect((await received).toString()).toBe('late words');
    expect((await relay).end).toBe('closed');
  });

  it("turns the client's RST into a reset of the kernel socket", async () => {
    let serverError: Promise<string> | undefined;
    let gotData = false;
    const port = await kernelServer((socket) => {
      serverError = new Promise((resolve) => socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? '')));
      socket.once('data', () => (gotData = true));
    });
    const { client, relay } = await relayedClient(port);
    await client.write(new Uint8Array([1, 2, 3]));
    // Only once the server holds the connection: Linux may report a reset of a connection still
    // in the accept queue as an end of stream.
    await waitFor(() => gotData);
    client.destroy();
    expect((await relay).end).toBe('client_reset');
    expect(await serverError).toBe('ECONNRESET');
  });

  it("turns the server's reset into a RST to the client", async () => {
    const port = await kernelServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const { client, relay } = await relayedClient(port);
    await client.write(new Uint8Array([1]));
    expect((await relay).end).toBe('server_reset');
    await expectCode(readAll(client), 'ECONNRESET');
  });

  it('holds no more than about a chunk while the server does not read', async () => {
    let serverSocket: Socket | undefined;
    const port = await kernelServer((socket) => {
      serverSocket = socket;
      socket.pause();
    });
    const chunkBytes = 16 * 1024;
    const { client, relay, upstream } = await relayedClient(port, { chunkBytes });
    let mostQueued = 0;
    const sample = setInterval(() => (mostQueued = Math.max(mostQueued, upstream.writableLength)), 1);
    cleanups.push(() => clearInterval(sample));
    const total = 16 << 20;
    let written = 0;
    const writing = client.write(pattern(total, 3)).then((n) => (written = n));
    // The kernel's socket buffers fill, then the relay stops reading, then the stacks' windows
    // close: the client's write stays unfinished.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(written).toBe(0);
    expect(mostQueued).toBeLessThanOrEqual(2 * chunkBytes);
    // Reading again lets everything through, in order.
    await waitFor(() => serverSocket !== undefined);
    const received = collect(serverSocket!);
    serverSocket!.resume();
    await writing;
    client.closeWrite();
    const bytes = await received;
    expect(bytes.length).toBe(total);
    expect(Buffer.from(pattern(total, 3)).equals(bytes)).toBe(true);
    serverSocket!.end();
    expect((await relay).bytesToServer).toBe(total);
  });

  it('resets both ends when aborted', async () => {
    const port = await kernelServer((socket) => socket.on('error', () => undefined));
    const controller = new AbortController();
    const { client, relay } = await relayedClient(port, { signal: controller.signal });
    controller.abort();
    expect((await relay).end).toBe('aborted');
    await expectCode(readAll(client), 'ECONNRESET');
  });
});
