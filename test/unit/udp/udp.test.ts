import { describe, expect, it } from 'vitest';
import { flipBits } from '../../support/bytes.js';
import { dial, listenPacket } from '../../../src/api/net.js';
import { FakeClock } from '../../../src/clock.js';
import type { NetError } from '../../../src/errors.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { EPHEMERAL_FIRST, EPHEMERAL_LAST, PortTable } from '../../../src/ports.js';
import { cryptoRandom, type RandomSource } from '../../../src/random.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../../../src/wire/udp.js';
import { ManualTime } from '../../support/manual-time.js';
import { expectCode, stackPair } from '../../support/stack-pair.js';

const A = parseIPv4Address('10.0.0.1')!;
const B = parseIPv4Address('10.0.0.2')!;

describe('UDP codec (RFC 768)', () => {
  it('round trips a datagram with a valid pseudo-header checksum', () => {
    const payload = new TextEncoder().encode('hello, udp');
    const bytes = encodeUdpDatagram(5000, 7, payload, A, B);
    const parsed = parseUdpDatagram(bytes, A, B);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.datagram.sourcePort).toBe(5000);
    expect(parsed.datagram.destinationPort).toBe(7);
    expect(Buffer.from(parsed.datagram.payload).toString()).toBe('hello, udp');
  });

  it('accepts a zero checksum as "none" and rejects a wrong one', () => {
    const bytes = encodeUdpDatagram(1, 2, new Uint8Array([1, 2, 3]), A, B);
    const wrong = bytes.slice();
    flipBits(wrong, 8, 0xff);
    expect(parseUdpDatagram(wrong, A, B)).toEqual({ ok: false, reason: 'bad_checksum' });
    wrong[6] = 0;
    wrong[7] = 0;
    expect(parseUdpDatagram(wrong, A, B).ok).toBe(true);
  });

  it('checks the pseudo-header: the same bytes from another source fail', () => {
    const bytes = encodeUdpDatagram(1, 2, new Uint8Array([9, 9]), A, B);
    expect(parseUdpDatagram(bytes, parseIPv4Address('10.0.0.3')!, B)).toEqual({ ok: false, reason: 'bad_checksum' });
  });

  it('sends a computed checksum of zero as 0xffff', () => {
    let found = false;
    for (let value = 0; value < 0x10000 && !found; value++) {
      const payload = new Uint8Array([value >> 8, value & 0xff]);
      const bytes = encodeUdpDatagram(1, 2, payload, A, B);
      if (bytes[6] === 0xff && bytes[7] === 0xff) {
        found = true;
        expect(parseUdpDatagram(bytes, A, B).ok).toBe(true);
      }
    }
    expect(found).toBe(true);
  });

  it('rejects truncated datagrams and lying lengths', () => {
    expect(parseUdpDatagram(new Uint8Array(7), A, B)).toEqual({ ok: false, reason: 'truncated' });
    const bytes = encodeUdpDatagram(1, 2, new Uint8Array(10), A, B);
    const tooLong = bytes.slice();
    tooLong[4] = 0;
    tooLong[5] = 19;
    expect(parseUdpDatagram(tooLong, A, B)).toEqual({ ok: false, reason: 'bad_length' });
    const tooShort = bytes.slice();
    tooShort[4] = 0;
    tooShort[5] = 7;
    expect(parseUdpDatagram(tooShort, A, B)).toEqual({ ok: false, reason: 'bad_length' });
  });

  it('ignores bytes beyond the UDP length', () => {
    const bytes = encodeUdpDatagram(1, 2, new Uint8Array([5, 6]), A, B);
    const padded = new Uint8Array(bytes.length + 4);
    padded.set(bytes);
    const parsed = parseUdpDatagram(padded, A, B);
    expect(parsed.ok && [...parsed.datagram.payload]).toEqual([5, 6]);
  });
});

/** A random source whose every draw is `value`. */
function constantRandom(value: number): RandomSource {
  return { float: () => value, bytes: (length) => new Uint8Array(length).fill(Math.floor(value * 256)) };
}

describe('PortTable', () => {
  it('allocates ephemeral ports in 49152-65535 from a random start and wraps around', () => {
    const table = new PortTable<string>('udp', constantRandom(0.9999999));
    const first = table.bind(0, 'a');
    expect(first).toBe(EPHEMERAL_LAST);
    expect(table.bind(0, 'b')).toBe(EPHEMERAL_FIRST);
    const other = new PortTable<string>('udp', constantRandom(0.5));
    const port = other.bind(0, 'x');
    expect(port).toBeGreaterThanOrEqual(EPHEMERAL_FIRST);
    expect(port).toBeLessThanOrEqual(EPHEMERAL_LAST);
  });

  it('refuses a taken port with EADDRINUSE and reuses it after release', () => {
    const table = new PortTable<string>('tcp', cryptoRandom);
    table.bind(8080, 'a');
    expect(() => table.bind(8080, 'b')).toThrow(/EADDRINUSE/);
    table.release(8080, 'b'); // not the owner: no effect
    expect(table.get(8080)).toBe('a');
    table.release(8080, 'a');
    expect(table.bind(8080, 'b')).toBe(8080);
  });

  it('rejects out-of-range ports with EINVAL and reports exhaustion', () => {
    const table = new PortTable<number>('udp', cryptoRandom);
    expect(() => table.bind(70000, 1)).toThrow(/EINVAL/);
    expect(() => table.bind(-1, 1)).toThrow(/EINVAL/);
    for (let i = EPHEMERAL_FIRST; i <= EPHEMERAL_LAST; i++) table.bind(0, i);
    expect(() => table.bind(0, 0)).toThrow(/EADDRINUSE/);
  });
});

describe('UDP sockets over two stacks in memory', () => {
  it('echoes a datagram between listenPacket and a dialed socket', async () => {
    const { a, b } = stackPair();
    const server = await listenPacket('udp', ':7', { stack: b });
    const client = await dial('udp', '10.0.0.2:7', { stack: a });
    expect(client.remoteAddr?.toString()).toBe('10.0.0.2:7');
    await client.write(new TextEncoder().encode('ping'));
    const buffer = new Uint8Array(100);
    const { n, addr } = await server.readFrom(buffer);
    expect(Buffer.from(buffer.subarray(0, n)).toString()).toBe('ping');
    expect(addr.address).toBe('10.0.0.1');
    expect(addr.port).toBe(client.localAddr.port);
    await server.writeTo(buffer.subarray(0, n), addr);
    const m = await client.read(buffer);
    expect(Buffer.from(buffer.subarray(0, m)).toString()).toBe('ping');
    client.close();
    server.close();
  });

  it('carries an 8000-byte datagram intact at MTU 1500 (fragmented and reassembled)', async () => {
    const { a, b } = stackPair({ mtu: 1500 });
    const server = await listenPacket('udp', ':9000', { stack: b });
    const client = await listenPacket('udp', ':0', { stack: a });
    const payload = new Uint8Array(8000).map((_, i) => (i * 7) % 256);
    await client.writeTo(payload, '10.0.0.2:9000');
    const buffer = new Uint8Array(10000);
    const { n } = await server.readFrom(buffer);
    expect(n).toBe(8000);
    expect(Buffer.compare(buffer.subarray(0, n), payload)).toBe(0);
    expect(a.counters('ip').get('fragments_sent')).toBe(6);
    expect(b.counters('ip').get('reassembled')).toBe(1);
  });

  it('turns ICMP port unreachable into ECONNREFUSED on a connected socket', async () => {
    const { a } = stackPair();
    const client = await dial('udp', '10.0.0.2:9999', { stack: a });
    await client.write(new Uint8Array([1]));
    await expectCode(client.read(new Uint8Array(10)), 'ECONNREFUSED');
  });

  it('does not deliver datagrams from other senders to a connected socket', async () => {
    const { a, b } = stackPair();
    const connected = await dial('udp', '10.0.0.2:5000', { stack: a });
    const stranger = await listenPacket('udp', ':5001', { stack: b });
    const peer = await listenPacket('udp', ':5000', { stack: b });
    await stranger.writeTo(new Uint8Array([0xee]), connected.localAddr);
    await peer.writeTo(new Uint8Array([0x11]), connected.localAddr);
    const buffer = new Uint8Array(4);
    const n = await connected.read(buffer);
    expect([...buffer.subarray(0, n)]).toEqual([0x11]);
    expect(a.counters('udp').get('drop.not_from_connected_peer')).toBe(1);
  });

  it('ends a pending read at the read deadline with a timeout error (fake clock)', async () => {
    const clock = new FakeClock(1000);
    const { b } = stackPair({ clock });
    const time = ManualTime.of(b);
    const socket = await listenPacket('udp', ':7', { stack: b });
    socket.setReadDeadline(new Date(Date.now() + 500));
    const pending = socket.readFrom(new Uint8Array(10));
    let settled = false;
    pending.catch(() => {}).finally(() => (settled = true));
    time.advance(400);
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    time.advance(100);
    const error = await expectCode(pending, 'ETIMEDOUT');
    expect((error as NetError & { timeout?: boolean }).timeout).toBe(true);
    expect(error.message).toMatch(/timeout/);
  });

  it('ends a pending read when its AbortSignal fires', async () => {
    const { b } = stackPair();
    const socket = await listenPacket('udp', ':7', { stack: b });
    const controller = new AbortController();
    const pending = socket.readFrom(new Uint8Array(10), { signal: controller.signal });
    controller.abort(new Error('user gave up'));
    const error = await expectCode(pending, 'ABORT_ERR');
    expect(error.message).toMatch(/user gave up/);
  });

  it('rejects reads after close and a pending read at close, and frees the port', async () => {
    const { b } = stackPair();
    const socket = await listenPacket('udp', ':7', { stack: b });
    const pending = socket.readFrom(new Uint8Array(10));
    socket.close();
    await expectCode(pending, 'ECLOSED');
    await expectCode(socket.readFrom(new Uint8Array(1)), 'ECLOSED');
    const again = await listenPacket('udp', ':7', { stack: b });
    expect(again.localAddr.port).toBe(7);
  });

  it('bounds the receive queue and counts what it drops', async () => {
    const { a, b } = stackPair();
    const socket = await listenPacket('udp', ':7', { stack: b, receiveQueueLength: 4 });
    const sender = await listenPacket('udp', ':0', { stack: a });
    for (let i = 0; i < 10; i++) await sender.writeTo(new Uint8Array([i]), '10.0.0.2:7');
    await new Promise((r) => setTimeout(r, 20));
    expect(b.counters('udp').get('drop.receive_queue_full')).toBe(6);
    const buffer = new Uint8Array(1);
    for (let i = 0; i < 4; i++) {
      await socket.readFrom(buffer);
      expect(buffer[0]).toBe(i);
    }
  });

  it('gives EADDRINUSE for a taken port and EINVAL for malformed addresses', async () => {
    const { b } = stackPair();
    await listenPacket('udp', ':53', { stack: b });
    await expectCode(listenPacket('udp', ':53', { stack: b }), 'EADDRINUSE');
    await expectCode(listenPacket('udp', '53', { stack: b }), 'EINVAL');
    await expectCode(listenPacket('udp', '10.0.0.300:1', { stack: b }), 'EINVAL');
    await expectCode(listenPacket('udp', ':99999', { stack: b }), 'EINVAL');
    await expectCode(listenPacket('udp', '10.9.9.9:1', { stack: b }), 'EADDRNOTAVAIL');
    const any = await listenPacket('udp', '0.0.0.0:0', { stack: b });
    expect(any.localAddr.port).toBeGreaterThanOrEqual(49152);
  });

  it('truncates a datagram longer than the read buffer and says so', async () => {
    const { a, b } = stackPair();
    const socket = await listenPacket('udp', ':7', { stack: b });
    const sender = await listenPacket('udp', ':0', { stack: a });
    await sender.writeTo(new Uint8Array([1, 2, 3, 4, 5]), '10.0.0.2:7');
    const buffer = new Uint8Array(3);
    const result = await socket.readFrom(buffer);
    expect(result.n).toBe(3);
    expect(result.truncated).toBe(true);
    expect([...buffer]).toEqual([1, 2, 3]);
  });

  it('refuses a payload larger than one IPv4 datagram can carry with EMSGSIZE', async () => {
    const { a } = stackPair();
    const sender = await listenPacket('udp', ':0', { stack: a });
    await expectCode(sender.writeTo(new Uint8Array(65508), '10.0.0.2:7'), 'EMSGSIZE');
  });
});
