/**
 * Go's defaults and semantics in the API (issue 13, point 3), over two stacks in memory: NoDelay
 * and 15 s keepalive by default (per connection and per stack), write counts on failure,
 * timeout 0, ECLOSED after close, EADDRNOTAVAIL when ports run out, names through a resolver,
 * and the Duplex closing like net.Socket (a FIN after what was queued, a RST only when asked or
 * when data was left unread; allowHalfOpen false unless asked for).
 */
import { describe, expect, it } from 'vitest';
import { toDuplex } from '../../../src/api/duplex.js';
import { dial, listen, listenPacket } from '../../../src/api/net.js';
import { FakeClock } from '../../../src/clock.js';
import { impairLink } from '../../../src/link/impair.js';
import { tapLink } from '../../../src/link/tap.js';
import type { Link } from '../../../src/link/link.js';
import { readUint16 } from '../../../src/bytes.js';
import { IPV4_MIN_HEADER, PROTOCOL_TCP } from '../../../src/wire/ipv4.js';
import { ManualTime } from '../../support/manual-time.js';
import { expectCode, pattern, readAll, stackPair, waitFor, type StackPairOptions } from '../../support/stack-pair.js';

const dropEverything = (link: Link) => impairLink(link, { loss: 1, dup: 0, reorder: 0, corrupt: 0, delayMs: 0 });

/** A connected pair: `client` on stack a, `server` accepted on stack b. */
async function connectedPair(options: StackPairOptions = {}, dialOptions: Parameters<typeof dial>[2] = {}) {
  const { a, b } = stackPair(options);
  const listener = await listen('tcp', ':7', { stack: b });
  const accepting = listener.accept();
  const client = await dial('tcp', '10.0.0.2:7', { stack: a, ...dialOptions });
  const server = await accepting;
  return { a, b, listener, client, server };
}

/** TCP segments with payload that stack A put on the link so far. */
function payloadSegmentCounter(): { wrap: (link: Link) => Link; count: () => number } {
  let segments = 0;
  const wrap = (link: Link) =>
    tapLink(link, (direction, packet) => {
      if (direction !== 'out' || packet[9] !== PROTOCOL_TCP) return;
      const headerLength = (packet[IPV4_MIN_HEADER + 12]! >> 4) * 4;
      if (readUint16(packet, 2) > IPV4_MIN_HEADER + headerLength) segments++;
    });
  return { wrap, count: () => segments };
}

/** Two small writes in a row: how many segments left at once (Nagle holds the second). */
async function segmentsForTwoSmallWrites(options: StackPairOptions, dialOptions: Parameters<typeof dial>[2] = {}): Promise<number> {
  const counter = payloadSegmentCounter();
  const { client } = await connectedPair({ ...options, wrap: counter.wrap }, dialOptions);
  const before = counter.count();
  await client.write(new Uint8Array([1]));
  await client.write(new Uint8Array([2]));
  return counter.count() - before;
}

describe("Go's socket defaults", () => {
  it('sends small writes at once (NoDelay), unless the connection or the stack asks for Nagle', async () => {
    expect(await segmentsForTwoSmallWrites({})).toBe(2);
    expect(await segmentsForTwoSmallWrites({}, { noDelay: false })).toBe(1);
    expect(await segmentsForTwoSmallWrites({ sockets: { noDelay: false } })).toBe(1);
    expect(await segmentsForTwoSmallWrites({ sockets: { noDelay: false } }, { noDelay: true })).toBe(2);
  });

  it('probes an idle connection after 15 s (keepalive), at the delay asked for, or not when turned off', async () => {
    const probesAfter = async (idleMs: number, options: StackPairOptions, dialOptions: Parameters<typeof dial>[2] = {}) => {
      const { a } = await connectedPair({ clock: new FakeClock(), ...options }, dialOptions);
      ManualTime.of(a).advance(idleMs);
      return a.counters('tcp').get('keepalive_probes');
    };
    expect(await probesAfter(14_000, {})).toBe(0);
    expect(await probesAfter(15_000, {})).toBe(1);
    expect(await probesAfter(15_000, {}, { keepAlive: false })).toBe(0);
    expect(await probesAfter(15_000, { sockets: { keepAlive: false } })).toBe(0);
    expect(await probesAfter(5_000, { sockets: { keepAliveInitialDelay: 5_000 } })).toBe(1);
    expect(await probesAfter(5_000, { sockets: { keepAliveInitialDelay: 5_000 } }, { keepAliveInitialDelay: 60_000 })).toBe(0);
  });

  it('gives accepted connections the listener’s (or the stack’s) options too', async () => {
    const { a, b } = stackPair({ clock: new FakeClock() });
    const listener = await listen('tcp', ':7', { stack: b, keepAliveInitialDelay: 2_000 });
    const accepting = listener.accept();
    await dial('tcp', '10.0.0.2:7', { stack: a, keepAlive: false });
    await accepting;
    ManualTime.of(b).advance(2_000);
    expect(b.counters('tcp').get('keepalive_probes')).toBe(1);
  });

  it('refuses a negative keepalive delay with EINVAL', async () => {
    const { a } = stackPair();
    await expectCode(dial('tcp', '10.0.0.2:7', { stack: a, keepAliveInitialDelay: -1 }), 'EINVAL');
  });
});

describe("Go's write, close and dial semantics", () => {
  it('rejects a write cut short by its deadline with the bytes it did accept, and those bytes arrive', async () => {
    const bufferSize = 64 * 1024;
    const { client, server } = await connectedPair({ tcp: { sendBufferSize: bufferSize, receiveBufferSize: bufferSize } });
    const data = pattern(1024 * 1024, 3);
    client.setWriteDeadline(new Date(Date.now() + 200));
    const error = await expectCode(client.write(data), 'ETIMEDOUT');
    expect((error as { timeout?: boolean }).timeout).toBe(true);
    const accepted = error.bytesWritten!;
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(data.length);
    client.close();
    const received = await readAll(server);
    expect(received.length).toBe(accepted);
    expect(Buffer.compare(received, data.subarray(0, accepted))).toBe(0);
  });

  it('carries the count on an aborted write too, and 0 on a write after close', async () => {
    const { client } = await connectedPair({ tcp: { sendBufferSize: 16 * 1024, receiveBufferSize: 16 * 1024 } });
    const controller = new AbortController();
    const pending = client.write(pattern(1024 * 1024, 1), { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const aborted = await expectCode(pending, 'ABORT_ERR');
    expect(aborted.bytesWritten).toBeGreaterThan(0);
    expect(aborted.bytesWritten).toBeLessThan(1024 * 1024);
    client.close();
    const closed = await expectCode(client.write(new Uint8Array(5)), 'ECLOSED');
    expect(closed.bytesWritten).toBe(0);
  });

  it('rejects every call after close() with ECLOSED, a second close() included (listeners and UDP sockets too)', async () => {
    const { b, listener, client } = await connectedPair();
    client.close();
    await expectCode(client.read(new Uint8Array(1)), 'ECLOSED');
    expect(() => client.close()).toThrow(/ECLOSED/);
    // destroy() stays allowed: it ends a close handshake still in progress.
    expect(() => client.destroy()).not.toThrow();
    listener.close();
    expect(() => listener.close()).toThrow(/ECLOSED/);
    await expectCode(listener.accept(), 'ECLOSED');
    const udp = await listenPacket('udp', ':53', { stack: b });
    udp.close();
    expect(() => udp.close()).toThrow(/ECLOSED/);
  });

  it('treats timeout 0 as no timeout, as Go does', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':7', { stack: b });
    const conn = await dial('tcp', '10.0.0.2:7', { stack: a, timeout: 0 });
    expect(conn.remoteAddr.toString()).toBe('10.0.0.2:7');
    listener.close();
    const lossy = stackPair({ wrap: dropEverything });
    const controller = new AbortController();
    const pending = dial('tcp', '10.0.0.2:7', { stack: lossy.a, timeout: 0, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expectCode(pending, 'ABORT_ERR');
    await expectCode(dial('tcp', '10.0.0.2:7', { stack: a, timeout: -1 }), 'EINVAL');
  });

  it('fails with EADDRNOTAVAIL once every ephemeral port to a destination is taken', async () => {
    const clock = new FakeClock();
    const { a } = stackPair({ clock, wrap: dropEverything });
    // Handshakes that never complete hold their ports (manual time: no SYN is retransmitted).
    let opened = 0;
    for (let i = 0; i < 70_000; i++) {
      try {
        a.tcp.connect(0x0a000002, 7);
        opened++;
      } catch {
        break;
      }
    }
    expect(opened).toBeGreaterThan(10_000);
    expect(opened).toBeLessThan(70_000);
    const error = await expectCode(dial('tcp', '10.0.0.2:7', { stack: a }), 'EADDRNOTAVAIL');
    expect(error.message).toMatch(/no free local port/);
    // Another destination still has ports.
    const other = dial('tcp', '10.0.0.2:8', { stack: a, timeout: 100 });
    ManualTime.of(a).advance(100);
    await expectCode(other, 'ETIMEDOUT');
  });

  it("dials localhost as the stack's loopback, other names through the resolver, and says ENOTFOUND otherwise", async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':7', { stack: b });
    const self = await dial('tcp', 'localhost:7', { stack: b });
    expect(self.remoteAddr.toString()).toBe('127.0.0.1:7');
    const notFound = await expectCode(dial('tcp', 'server.example:7', { stack: a }), 'ENOTFOUND');
    expect(notFound.message).toContain('server.example');
    const looked: string[] = [];
    const resolver = async (host: string) => {
      looked.push(host);
      return host === 'server.example' ? ['10.0.0.2'] : [];
    };
    const named = await dial('tcp', 'server.example:7', { stack: a, resolver });
    expect(named.remoteAddr.toString()).toBe('10.0.0.2:7');
    await expectCode(dial('tcp', 'nowhere.example:7', { stack: a, resolver }), 'ENOTFOUND');
    const failing = async () => {
      throw new Error('SERVFAIL');
    };
    const wrapped = await expectCode(dial('tcp', 'server.example:7', { stack: a, resolver: failing }), 'ENOTFOUND');
    expect(wrapped.message).toContain('SERVFAIL');
    expect(looked).toEqual(['server.example', 'nowhere.example']);
    listener.close();
  });
});

describe('the Duplex closes like net.Socket', () => {
  async function duplexPair(options: StackPairOptions = {}) {
    const pair = await connectedPair(options);
    return { ...pair, socket: toDuplex(pair.client) };
  }

  it('destroy(err) sends what the connection accepted, then a FIN', async () => {
    const { socket, server } = await duplexPair({ tcp: { sendBufferSize: 256 * 1024 } });
    const data = Buffer.from(pattern(200_000, 5));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.write(data, () => resolve()));
    socket.destroy(new Error('the application gave up'));
    const received = await readAll(server);
    expect(Buffer.compare(received, data)).toBe(0);
  });

  it('resetAndDestroy() sends a RST', async () => {
    const { socket, server } = await duplexPair();
    const pendingRead = server.read(new Uint8Array(10));
    socket.resetAndDestroy();
    await expectCode(pendingRead, 'ECONNRESET');
  });

  it('destroy() with received data left unread sends a RST, as Linux close() does', async () => {
    const { socket, server, a } = await duplexPair();
    socket.pause();
    // More than the stream buffers: the rest stays unread in the connection.
    await server.write(pattern(512 * 1024, 2));
    await waitFor(() => (socket.conn?.connection.readableLength ?? 0) > 0);
    socket.destroy();
    await expectCode(readAll(server), 'ECONNRESET');
    expect(a.counters('tcp').get('reset_unread_data')).toBe(1);
  });

  it('ends its side when the peer does (allowHalfOpen false), unless Go semantics are asked for', async () => {
    const halfClosing = async (allowHalfOpen: boolean | undefined) => {
      const { client, server } = await connectedPair();
      const socket = toDuplex(client, allowHalfOpen === undefined ? {} : { allowHalfOpen });
      socket.resume();
      server.closeWrite();
      await new Promise((resolve) => socket.once('end', resolve));
      if (allowHalfOpen) socket.end('still talking');
      return (await readAll(server)).toString();
    };
    expect(await halfClosing(undefined)).toBe('');
    expect(await halfClosing(true)).toBe('still talking');
  });

  it('reports address(), bytesRead and bytesWritten', async () => {
    const { socket, server, client } = await duplexPair();
    expect(socket.address()).toEqual({ address: '10.0.0.1', family: 'IPv4', port: client.localAddr.port });
    expect(socket.remoteAddress).toBe('10.0.0.2');
    expect(socket.remotePort).toBe(7);
    await new Promise<void>((resolve) => socket.write('hello', () => resolve()));
    expect(socket.bytesWritten).toBe(5);
    await server.write(new TextEncoder().encode('world!'));
    const chunk = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
    expect(chunk.toString()).toBe('world!');
    expect(socket.bytesRead).toBe(6);
  });

  it("setTimeout emits 'timeout' after that long idle; reads and writes restart it; 0 stops it, and a timeout set again runs again", async () => {
    const { socket, server } = await duplexPair();
    socket.resume();
    let timeouts = 0;
    socket.on('timeout', () => timeouts++);
    socket.setTimeout(150);
    expect(socket.timeout).toBe(150);
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      if (i % 2 === 0) socket.write('x');
      else await server.write(new Uint8Array(1));
    }
    expect(timeouts).toBe(0);
    await waitFor(() => timeouts === 1);
    socket.setTimeout(0);
    socket.setTimeout(100);
    socket.setTimeout(0);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(timeouts).toBe(1);
    // The 100 ms timer ran out unheeded while the timeout was 0; the same time again restarts it.
    socket.setTimeout(100);
    await waitFor(() => timeouts === 2);
    socket.destroy();
  });
});
