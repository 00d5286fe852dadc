/**
 * TcpConn's calls for stream adapters that do not wait (readChunkNow, whenReadable, writeNow),
 * over two stacks in memory, and the Duplex built on them: what a call finds or takes at once,
 * when the callback comes, the errors, node:http keep-alive requests that arrive whole,
 * pipelined or in pieces, and writev under backpressure.
 */
import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { toDuplex } from '../../../src/api/duplex.js';
import { dial, listen } from '../../../src/api/net.js';
import type { TcpConn } from '../../../src/api/tcp.js';
import { NetError } from '../../../src/errors.js';
import { expectCode, pattern, readAll, stackPair, waitFor, type StackPairOptions } from '../../support/stack-pair.js';

/** A connected pair: `client` on stack a, `server` accepted on stack b. */
async function connectedPair(options: StackPairOptions = {}) {
  const { a, b } = stackPair(options);
  const listener = await listen('tcp', ':7', { stack: b });
  const accepting = listener.accept();
  const client = await dial('tcp', '10.0.0.2:7', { stack: a });
  const server = await accepting;
  return { a, b, listener, client, server };
}

/** `whenReadable` as a promise, and whether the callback ran before whenReadable returned. */
function whenReadable(conn: TcpConn): { sync: boolean; called: Promise<void> } {
  let returned = false;
  const result = { sync: false, called: Promise.resolve() };
  result.called = new Promise<void>((resolve) =>
    conn.whenReadable(() => {
      if (!returned) result.sync = true;
      resolve();
    }),
  );
  returned = true;
  return result;
}

/** The code of the NetError `call` throws (its bytesWritten too, when it has one). */
function thrownCode(call: () => unknown): string | undefined {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(NetError);
    const { code, bytesWritten } = error as NetError;
    return bytesWritten === undefined ? code : `${code} ${bytesWritten}`;
  }
  return undefined;
}

describe('readChunkNow and whenReadable', () => {
  it('answers undefined with nothing received, the bytes once they are, null after the FIN', async () => {
    const { client, server } = await connectedPair();
    expect(server.readChunkNow()).toBeUndefined();
    const waiting = whenReadable(server);
    await client.write(new TextEncoder().encode('hello, world'));
    await waiting.called;
    expect(waiting.sync).toBe(false);
    expect(server.readChunkNow(5)?.toString()).toBe('hello');
    expect(server.readChunkNow()?.toString()).toBe(', world');
    expect(server.readChunkNow()).toBeUndefined();
    const ending = whenReadable(server);
    client.closeWrite();
    await ending.called;
    expect(server.readChunkNow()).toBeNull();
    expect(server.readChunkNow()).toBeNull();
  });

  it('calls back once when the connection is closed or reset, and then throws as read() rejects', async () => {
    const closing = await connectedPair();
    const onClose = whenReadable(closing.server);
    closing.server.close();
    await onClose.called;
    expect(thrownCode(() => closing.server.readChunkNow())).toBe('ECLOSED');

    const resetting = await connectedPair();
    const onReset = whenReadable(resetting.server);
    resetting.client.destroy();
    await onReset.called;
    expect(thrownCode(() => resetting.server.readChunkNow())).toBe('ECONNRESET');
  });

  it('calls back when the read deadline passes, and readChunkNow then throws ETIMEDOUT', async () => {
    const { server } = await connectedPair();
    server.setReadDeadline(new Date(Date.now() + 50));
    let calls = 0;
    server.whenReadable(() => calls++);
    await waitFor(() => calls === 1);
    expect(thrownCode(() => server.readChunkNow())).toBe('ETIMEDOUT');
    server.setReadDeadline(null);
    expect(server.readChunkNow()).toBeUndefined();
  });
});

describe('writeNow', () => {
  it('takes a buffer, or chunks in order sent as one write of them all would be', async () => {
    const { a, client, server } = await connectedPair();
    const encoder = new TextEncoder();
    expect(client.writeNow(encoder.encode('one '))).toBe(4);
    const sent = a.counters('tcp').get('segments_sent');
    expect(client.writeNow([encoder.encode('two '), new Uint8Array(0), encoder.encode('three')])).toBe(9);
    expect(a.counters('tcp').get('segments_sent') - sent).toBe(1);
    client.closeWrite();
    expect((await readAll(server)).toString()).toBe('one two three');
  });

  it('takes what the send buffer has room for and leaves the rest to write()', async () => {
    const { client, server } = await connectedPair({ tcp: { sendBufferSize: 16 * 1024 } });
    const data = pattern(100_000, 3);
    const chunks = [data.subarray(0, 10_000), data.subarray(10_000, 30_000), data.subarray(30_000)];
    const taken = client.writeNow(chunks);
    expect(taken).toBeGreaterThan(10_000);
    expect(taken).toBeLessThan(30_000);
    expect(client.writeNow(data.subarray(taken))).toBe(0);
    const receiving = readAll(server);
    await client.write(data.subarray(taken));
    client.closeWrite();
    expect(Buffer.compare(await receiving, data)).toBe(0);
  });

  it('throws with bytesWritten 0 where write() fails: ECLOSED, EPIPE after closeWrite, ECONNRESET', async () => {
    const closed = await connectedPair();
    closed.client.close();
    expect(thrownCode(() => closed.client.writeNow(new Uint8Array(1)))).toBe('ECLOSED 0');
    const halfClosed = await connectedPair();
    halfClosed.client.closeWrite();
    expect(thrownCode(() => halfClosed.client.writeNow([new Uint8Array(1)]))).toBe('EPIPE 0');
    const reset = await connectedPair();
    const reading = reset.client.read(new Uint8Array(1));
    reset.server.destroy();
    await expectCode(reading, 'ECONNRESET');
    expect(thrownCode(() => reset.client.writeNow(new Uint8Array(1)))).toBe('ECONNRESET 0');
  });
});

describe('the Duplex writes without waiting when it can', () => {
  it('writes corked chunks (writev) beyond the send buffer in order, and counts them', async () => {
    const { client, server } = await connectedPair({ tcp: { sendBufferSize: 16 * 1024 } });
    const socket = toDuplex(client);
    const data = Buffer.from(pattern(300_000, 9));
    const receiving = readAll(server);
    for (let offset = 0; offset < data.length; offset += 30_000) {
      socket.cork();
      for (let i = offset; i < offset + 30_000; i += 7_500) socket.write(data.subarray(i, i + 7_500));
      socket.write(Buffer.alloc(0));
      process.nextTick(() => socket.uncork());
    }
    await new Promise<void>((resolve) => socket.end(resolve));
    expect(Buffer.compare(await receiving, data)).toBe(0);
    expect(socket.bytesWritten).toBe(data.length);
  });

  it("fails a write on a reset connection with the connection's error", async () => {
    const { client, server } = await connectedPair();
    const socket = toDuplex(client);
    const failed = new Promise<Error>((resolve) => socket.once('error', resolve));
    server.destroy();
    await waitFor(() => client.state === 'CLOSED');
    socket.write('too late');
    expect(((await failed) as NetError).code).toBe('ECONNRESET');
  });
});

describe('the Duplex reads without waiting when it can', () => {
  async function httpOverStack(): Promise<{ client: TcpConn; server: Server }> {
    const { a, b } = stackPair();
    const server = createServer({ keepAlive: true }, (request, response) => {
      const body = `${request.method} ${request.url}\n`;
      response.writeHead(200, { 'Content-Length': Buffer.byteLength(body) });
      response.end(body);
    });
    const listener = await listen('tcp', ':80', { stack: b });
    void (async () => {
      for await (const conn of listener) server.emit('connection', toDuplex(conn, { allowHalfOpen: true }));
    })();
    return { client: await dial('tcp', '10.0.0.2:80', { stack: a }), server };
  }

  const request = (path: string, close = false) => `GET ${path} HTTP/1.1\r\nHost: s\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;

  it('answers keep-alive requests sent whole, pipelined, and a byte at a time, in order', async () => {
    const { client } = await httpOverStack();
    const encoder = new TextEncoder();
    await client.write(encoder.encode(request('/one')));
    await waitFor(() => client.connection.readableLength > 0);
    await client.write(encoder.encode(request('/two') + request('/three')));
    for (const byte of encoder.encode(request('/four', true))) {
      await client.write(Uint8Array.of(byte));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const text = (await readAll(client)).toString();
    expect(text.match(/GET \/\w+\n/g)).toEqual(['GET /one\n', 'GET /two\n', 'GET /three\n', 'GET /four\n']);
    expect(text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(4);
  });
});
