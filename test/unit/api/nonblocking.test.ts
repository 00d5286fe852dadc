/**
 * TcpConn's calls for stream adapters that do not wait (readChunkNow, whenReadable), over two
 * stacks in memory, and the Duplex built on them: what a call finds at once, when the callback
 * comes, the errors, and node:http keep-alive requests that arrive whole, pipelined or in pieces.
 */
import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { toDuplex } from '../../../src/api/duplex.js';
import { dial, listen } from '../../../src/api/net.js';
import type { TcpConn } from '../../../src/api/tcp.js';
import { NetError } from '../../../src/errors.js';
import { readAll, stackPair, waitFor } from '../../support/stack-pair.js';

/** A connected pair: `client` on stack a, `server` accepted on stack b. */
async function connectedPair() {
  const { a, b } = stackPair();
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

function thrownCode(call: () => unknown): string | undefined {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(NetError);
    return (error as NetError).code;
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
