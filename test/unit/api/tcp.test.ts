/**
 * The Go-like TCP API over two stacks joined in memory: listen / accept / dial, typed errors,
 * deadlines, abort, half-close, the Node Duplex under node:http, listen-queue bounds, and a
 * bulk transfer through an impaired link.
 */
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { toDuplex } from '../../../src/api/duplex.js';
import { dial, listen } from '../../../src/api/net.js';
import { NetError } from '../../../src/errors.js';
import { impairLink } from '../../../src/link/impair.js';
import type { Stack } from '../../../src/stack.js';
import { expectCode, pattern, readAll, stackPair, waitFor } from '../../support/stack-pair.js';

describe('TCP API over two stacks in memory', () => {
  it('listen, dial, exchange a line each way, and close both ends', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':8080', { stack: b });
    expect(listener.addr.toString()).toBe('10.0.0.2:8080');
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:8080', { stack: a });
    const server = await accepting;
    expect(client.remoteAddr.toString()).toBe('10.0.0.2:8080');
    expect(server.remoteAddr.address).toBe('10.0.0.1');
    expect(server.remoteAddr.port).toBe(client.localAddr.port);
    await client.write(new TextEncoder().encode('Hello, server!\n'));
    const buffer = new Uint8Array(100);
    const n = await server.read(buffer);
    expect(Buffer.from(buffer.subarray(0, n!)).toString()).toBe('Hello, server!\n');
    await server.write(new TextEncoder().encode('Hello, client!\n'));
    server.close();
    expect((await readAll(client)).toString()).toBe('Hello, client!\n');
    client.close();
    listener.close();
    // The server closed first, so it holds TIME-WAIT (RFC 9293 3.6); the client's TCB is gone.
    await waitFor(() => a.tcp.connectionCount === 0);
    await waitFor(() => b.tcp.connectionCount === 0 && b.tcp.timeWaitCount === 1 && allInTimeWait(b));
  });

  it('rejects dial to a port nobody listens on with ECONNREFUSED', async () => {
    const { a } = stackPair();
    const error = await expectCode(dial('tcp', '10.0.0.2:81', { stack: a }), 'ECONNREFUSED');
    expect(error.message).toContain('10.0.0.2:81');
  });

  it('rejects dial with ETIMEDOUT when nothing answers within the timeout', async () => {
    const { a } = stackPair({ wrap: (link) => impairLink(link, { loss: 1, dup: 0, reorder: 0, corrupt: 0, delayMs: 0 }) });
    const started = Date.now();
    const error = await expectCode(dial('tcp', '10.0.0.2:80', { stack: a, timeout: 300 }), 'ETIMEDOUT');
    expect(error.message).toMatch(/timeout/);
    expect(Date.now() - started).toBeLessThan(2000);
    await waitFor(() => a.tcp.connectionCount === 0);
  });

  it('rejects dial with ABORT_ERR when its signal fires', async () => {
    const { a } = stackPair({ wrap: (link) => impairLink(link, { loss: 1, dup: 0, reorder: 0, corrupt: 0, delayMs: 0 }) });
    const controller = new AbortController();
    const pending = dial('tcp', '10.0.0.2:80', { stack: a, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expectCode(pending, 'ABORT_ERR');
  });

  it('gives EADDRINUSE for a second listener on a port, and EINVAL for bad addresses', async () => {
    const { b } = stackPair();
    const first = await listen('tcp', ':80', { stack: b });
    await expectCode(listen('tcp', ':80', { stack: b }), 'EADDRINUSE');
    await expectCode(listen('tcp', 'nonsense', { stack: b }), 'EINVAL');
    await expectCode(dial('tcp', '10.0.0.2', { stack: b }), 'EINVAL');
    await expectCode(dial('tcp', '10.0.0.2:0', { stack: b }), 'EINVAL');
    await expectCode(
      listen('tcp', ':1', { stack: b }).then(() => dial('sctp', '10.0.0.2:1', { stack: b })),
      'EINVAL',
    );
    first.close();
    const again = await listen('tcp', ':80', { stack: b });
    expect(again.addr.port).toBe(80);
  });

  it('ends a pending read at its deadline, and a pending accept through an AbortSignal', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':7', { stack: b });
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:7', { stack: a });
    await accepting;
    client.setReadDeadline(new Date(Date.now() + 100));
    const error = await expectCode(client.read(new Uint8Array(10)), 'ETIMEDOUT');
    expect((error as NetError & { timeout?: boolean }).timeout).toBe(true);
    // A deadline in the past fails at once; clearing it lets reads wait again.
    client.setReadDeadline(new Date(0));
    await expectCode(client.read(new Uint8Array(10)), 'ETIMEDOUT');
    client.setReadDeadline(null);
    const controller = new AbortController();
    const pendingAccept = listener.accept({ signal: controller.signal });
    controller.abort();
    await expectCode(pendingAccept, 'ABORT_ERR');
  });

  it('keeps data flowing the other way after closeWrite (half-close)', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':9', { stack: b });
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:9', { stack: a });
    const server = await accepting;
    await client.write(new TextEncoder().encode('request'));
    client.closeWrite();
    expect((await readAll(server)).toString()).toBe('request');
    // The server still writes after seeing our FIN; the client still reads.
    await server.write(new TextEncoder().encode('response after your FIN'));
    server.close();
    expect((await readAll(client)).toString()).toBe('response after your FIN');
    await expectCode(client.write(new Uint8Array([1])), 'EPIPE');
  });

  it('reports ECONNRESET to the peer of a destroyed connection, and ECLOSED after close', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':7', { stack: b });
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:7', { stack: a });
    const server = await accepting;
    const pendingRead = server.read(new Uint8Array(10));
    client.destroy();
    await expectCode(pendingRead, 'ECONNRESET');
    await expectCode(client.read(new Uint8Array(10)), 'ECLOSED');
  });

  it('moves 4 MiB each way at once with backpressure and every byte right', async () => {
    const { a, b } = stackPair({ tcp: { sendBufferSize: 256 * 1024, receiveBufferSize: 256 * 1024 } });
    const listener = await listen('tcp', ':5001', { stack: b });
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:5001', { stack: a });
    const server = await accepting;
    const size = 4 * 1024 * 1024;
    const up = pattern(size, 1);
    const down = pattern(size, 2);
    const results = await Promise.all([
      client.write(up).then(() => client.closeWrite()),
      server.write(down).then(() => server.closeWrite()),
      readAll(server),
      readAll(client),
    ]);
    expect(Buffer.compare(results[2], up)).toBe(0);
    expect(Buffer.compare(results[3], down)).toBe(0);
  });

  it('moves 2 MiB intact through a link with loss, reordering and duplication', async () => {
    const { a, b } = stackPair({
      wrap: (link) => impairLink(link, { loss: 0.03, dup: 0.02, reorder: 0.05, corrupt: 0.001, delayMs: 0, seed: 42 }),
    });
    const listener = await listen('tcp', ':5002', { stack: b });
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:5002', { stack: a, timeout: 10_000 });
    const server = await accepting;
    const size = 2 * 1024 * 1024;
    const data = pattern(size, 7);
    const [, received] = await Promise.all([client.write(data).then(() => client.close()), readAll(server)]);
    expect(received.length).toBe(size);
    expect(createHash('sha256').update(received).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(a.counters('tcp').get('retransmissions')).toBeGreaterThan(0);
  }, 60_000);

  it('serves node:http over the Duplex adapter', async () => {
    const { a, b } = stackPair();
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => res.end(`you sent ${req.method} ${req.url} with ${body.length} bytes`));
    });
    const listener = await listen('tcp', ':80', { stack: b });
    void (async () => {
      for await (const conn of listener) server.emit('connection', toDuplex(conn, { allowHalfOpen: true }));
    })();
    const conn = await dial('tcp', '10.0.0.2:80', { stack: a });
    const socket = toDuplex(conn);
    const response = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        { method: 'POST', path: '/upload', headers: { 'Content-Length': 5 }, createConnection: () => socket },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${text}`));
        },
      );
      req.on('error', reject);
      req.end('12345');
    });
    expect(response).toBe('200 you sent POST /upload with 5 bytes');
    listener.close();
  });

  it('a handshake beyond the backlog waits in SYN-RECEIVED, its ACK dropped and counted, until accept() makes room', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':7', { stack: b, backlog: 2 });
    const clients = await Promise.all([0, 1, 2, 3].map(() => dial('tcp', '10.0.0.2:7', { stack: a })));
    for (let i = 0; i < 100 && b.counters('tcp').get('drop.accept_queue_full') === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(b.counters('tcp').get('drop.accept_queue_full')).toBeGreaterThan(0);
    expect(b.tcp.tableStats().listeners[0]!.halfOpen).toBe(2);
    // The SYN-ACK retransmission (1 s) draws the peer's ACK again, and then there is room.
    const accepted = [];
    for (let i = 0; i < 4; i++) accepted.push(await listener.accept());
    expect(new Set(accepted.map((conn) => conn.remoteAddr.port)).size).toBe(4);
    expect(b.counters('tcp').get('resets_sent')).toBe(0);
    for (const conn of [...clients, ...accepted]) conn.close();
    listener.close();
  });

  it('without SYN cookies, SYNs beyond the half-open bound are dropped and counted, the rest accepted', async () => {
    const { a, b } = stackPair({ tcp: { synCookies: false } });
    const listener = await listen('tcp', ':7', { stack: b, backlog: 2, maxHalfOpen: 2 });
    const dials = [0, 1, 2, 3].map(() =>
      dial('tcp', '10.0.0.2:7', { stack: a, timeout: 400 }).then(
        (conn) => conn,
        (error: unknown) => error as NetError,
      ),
    );
    const results = await Promise.all(dials);
    const connected = results.filter((r) => !(r instanceof NetError));
    expect(connected.length).toBe(2);
    expect(b.counters('tcp').get('drop.listen_queue_full')).toBeGreaterThan(0);
    const first = await listener.accept();
    const second = await listener.accept();
    expect(first.remoteAddr.address).toBe('10.0.0.1');
    expect(second.remoteAddr.port).not.toBe(first.remoteAddr.port);
  });

  it('closes every connection with a FIN when the stack closes', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':7', { stack: b });
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:7', { stack: a });
    await accepting;
    const eof = client.read(new Uint8Array(10));
    await b.close(500);
    expect(await eof).toBeNull();
  });
});

function allInTimeWait(stack: Stack): boolean {
  return Object.keys(stack.tcp.tableStats().states).every((state) => state === 'TIME-WAIT');
}
