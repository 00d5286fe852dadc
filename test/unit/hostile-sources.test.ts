/**
 * Issue 9, part A: a stack that holds on a hostile wire. Martian sources from the link are
 * dropped by class and never answered, nothing is sent to a martian destination, a socket that
 * loops with itself through local delivery dies out at the hop limit while sockets talking over
 * the stack's own address work, a fault in one connection or socket ends only that one, and
 * configurations whose TCP segments cannot fit the link are refused when the stack is made.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dial, listen, listenPacket } from '../../src/api/net.js';
import type { UdpSocket } from '../../src/api/udp.js';
import { FakeClock } from '../../src/clock.js';
import { NetError } from '../../src/errors.js';
import { memoryLinkPair } from '../../src/link/link.js';
import { createLogger } from '../../src/log.js';
import { Stack, tcpConfigForLink } from '../../src/stack.js';
import { TcpConnection } from '../../src/tcp/connection.js';
import { parseIPv4Address } from '../../src/wire/address.js';
import { encodeEchoRequest } from '../../src/wire/icmpv4.js';
import { IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_ICMP, PROTOCOL_TCP, PROTOCOL_UDP, writeIPv4Header } from '../../src/wire/ipv4.js';
import { encodeTcpSegment, TCP_SYN } from '../../src/wire/tcp.js';
import { encodeUdpDatagram } from '../../src/wire/udp.js';
import { ReplayLink } from '../replay/replay-link.js';
import { stackPair } from '../support/stack-pair.js';

const HOST = parseIPv4Address('10.0.0.1')!;
const STACK = parseIPv4Address('10.0.0.2')!;

/** A SYN from `source` port 80 to our port 80 (a LAND SYN when `source` is our own address). */
function synToPort80(source: number): Uint8Array {
  const segment = {
    sourcePort: 80,
    destinationPort: 80,
    seq: 1000,
    ack: 0,
    flags: TCP_SYN,
    window: 65535,
    urgentPointer: 0,
    options: {},
    payload: new Uint8Array(0),
  };
  return encodeTcpSegment(segment, source, STACK);
}

function ipPacket(protocol: number, source: number, payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(IPV4_MIN_HEADER + payload.length);
  writeIPv4Header(bytes, 0, { source, destination: STACK, protocol, payloadLength: payload.length, identification: 1 });
  bytes.set(payload, IPV4_MIN_HEADER);
  return bytes;
}

function replayStack(): { link: ReplayLink; stack: Stack } {
  const link = new ReplayLink(1500);
  const stack = new Stack({ link, address: STACK, clock: new FakeClock(0), manualTimers: true });
  return { link, stack };
}

/** Let local delivery and the microtasks after it run for `turns` turns of the event loop. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

const stacks: Stack[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const stack of stacks.splice(0)) await stack.close(0);
});

describe('martian sources from the link (RFC 1122 3.2.1.3, RFC 1812 5.3.7)', () => {
  const martians: Array<[string, string]> = [
    ['self', '10.0.0.2'],
    ['zero_net', '0.1.2.3'],
    ['loopback', '127.0.0.1'],
    ['multicast', '224.0.0.5'],
    ['class_e', '240.0.0.1'],
    ['broadcast', '255.255.255.255'],
  ];

  it.each(martians)('drops an echo request from a %s source (%s), counted, with no reply', (kind, source) => {
    const { link, stack } = replayStack();
    stacks.push(stack);
    link.inject([ipPacket(PROTOCOL_ICMP, parseIPv4Address(source)!, encodeEchoRequest(7, 1, new Uint8Array(8)))]);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('ip').get(`drop.martian_source_${kind}`)).toBe(1);
    expect(stack.counters('icmp').get('echo_replies')).toBe(0);
  });

  it('answers the same echo request from an ordinary source', () => {
    const { link, stack } = replayStack();
    stacks.push(stack);
    link.inject([ipPacket(PROTOCOL_ICMP, HOST, encodeEchoRequest(7, 1, new Uint8Array(8)))]);
    expect(link.drain()).toHaveLength(1);
  });

  it('sends no SYN-ACK for a SYN from 224.0.0.5 and no RST for a LAND SYN', async () => {
    const { link, stack } = replayStack();
    stacks.push(stack);
    const listener = await listen('tcp', ':80', { stack });
    link.inject([
      ipPacket(PROTOCOL_TCP, parseIPv4Address('224.0.0.5')!, synToPort80(parseIPv4Address('224.0.0.5')!)),
      ipPacket(PROTOCOL_TCP, STACK, synToPort80(STACK)),
    ]);
    await turns(5);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('ip').get('drop.martian_source_multicast')).toBe(1);
    expect(stack.counters('ip').get('drop.martian_source_self')).toBe(1);
    expect(stack.counters('tcp').get('connections_created')).toBe(0);
    listener.close();
  });
});

describe('the send guard', () => {
  it('refuses to send to a martian destination, counted, but delivers to our own address locally', async () => {
    const { link, stack } = replayStack();
    stacks.push(stack);
    const socket = await listenPacket('udp', ':5000', { stack });
    // 127.0.0.1 is the stack's own loopback (delivered locally); the rest of 127/8 is not.
    for (const destination of ['224.0.0.5', '127.0.0.2', '0.0.0.1', '240.0.0.1', '255.255.255.255']) {
      await socket.writeTo(new Uint8Array([1, 2, 3]), `${destination}:9`);
    }
    expect(link.drain()).toEqual([]);
    const ip = stack.counters('ip');
    for (const kind of ['multicast', 'loopback', 'zero_net', 'class_e', 'broadcast'])
      expect(ip.get(`drop.martian_destination_${kind}`)).toBe(1);
    const receiver = await listenPacket('udp', ':5001', { stack });
    await socket.writeTo(new Uint8Array([4, 5]), '10.0.0.2:5001');
    const { n, addr } = await receiver.readFrom(new Uint8Array(16));
    expect([n, addr.port]).toEqual([2, 5000]);
    socket.close();
    receiver.close();
  });
});

describe('the hop limit of a socket looping with itself through local delivery', () => {
  /** A UDP echo with no inetd-style port check: it answers everyone, itself included. */
  async function naiveEcho(stack: Stack, port: number): Promise<UdpSocket> {
    const socket = await listenPacket('udp', `:${port}`, { stack });
    void (async () => {
      const buffer = new Uint8Array(2048);
      for (;;) {
        try {
          const { n, addr } = await socket.readFrom(buffer);
          await socket.writeTo(buffer.subarray(0, n), addr);
        } catch {
          return;
        }
      }
    })();
    return socket;
  }

  it('ends a UDP echo answering itself, counted, while another socket still gets its echoes', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: STACK });
    stacks.push(stack);
    const echo = await naiveEcho(stack, 7);
    // The echo sends to itself: 10.0.0.2:7 -> 10.0.0.2:7, and answers its own datagram.
    await echo.writeTo(new Uint8Array([42]), '10.0.0.2:7');
    await turns(200);
    const ip = stack.counters('ip');
    expect(ip.get('drop.local_loop_limit')).toBe(1);
    const looped = ip.get('looped_back');
    expect(looped).toBe(16);
    await turns(50);
    expect(ip.get('looped_back')).toBe(looped);
    // Two different sockets over the own address: a conversation far longer than the limit.
    const client = await listenPacket('udp', ':40000', { stack });
    const buffer = new Uint8Array(16);
    for (let i = 0; i < 100; i++) {
      await client.writeTo(Uint8Array.of(i), '10.0.0.2:7');
      const { n } = await client.readFrom(buffer);
      expect([n, buffer[0]]).toEqual([1, i]);
    }
    expect(ip.get('drop.local_loop_limit')).toBe(1);
    client.close();
    echo.close();
  });

  it('ends a LAND-like TCP self-connection sent locally, while a dial of our own address echoes normally', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: STACK });
    stacks.push(stack);
    const listener = await listen('tcp', ':80', { stack });
    const accepted: Promise<void> = (async () => {
      for await (const conn of listener) {
        void (async () => {
          const buffer = new Uint8Array(4096);
          for (;;) {
            const n = await conn.read(buffer).catch(() => null);
            if (n === null) break;
            await conn.write(buffer.subarray(0, n));
          }
          conn.close();
        })();
      }
    })();
    // A local program's SYN from our own port 80 to our own port 80.
    const packet = new Uint8Array(IPV4_MIN_HEADER + 20);
    packet.set(synToPort80(STACK), IPV4_MIN_HEADER);
    stack.ip.sendTransport(PROTOCOL_TCP, STACK, STACK, packet);
    await turns(200);
    const ip = stack.counters('ip');
    const afterLoop = ip.get('looped_back');
    await turns(50);
    expect(ip.get('looped_back')).toBe(afterLoop);
    expect(afterLoop).toBeLessThanOrEqual(17);
    // What ends it first: the RFC 5961 7 limit on answers to unacceptable segments (one per
    // 500 ms), or else the hop limit (the UDP test above shows that one alone).
    expect(stack.counters('tcp').get('ack_ratelimited') + ip.get('drop.local_loop_limit')).toBeGreaterThan(0);
    // A normal dial of our own address: 50 round trips through the echo.
    const conn = await dial('tcp', '10.0.0.2:80', { stack });
    const buffer = new Uint8Array(64);
    for (let i = 0; i < 50; i++) {
      await conn.write(Uint8Array.of(i, i + 1));
      let got = 0;
      while (got < 2) got += (await conn.read(buffer.subarray(got)))!;
      expect([buffer[0], buffer[1]]).toEqual([i, i + 1]);
    }
    conn.close();
    listener.close();
    await accepted;
  });
});

describe('faults are contained', () => {
  /** Two echo connections from stack A to stack B's port 7; the fault hits the first one. */
  async function twoEchoConnections(logLines: string[]) {
    const { a, b } = stackPair();
    const logger = createLogger('error', (line) => logLines.push(line));
    // The stacks were made with the silent logger: route both to the test's lines.
    for (const stack of [a, b]) {
      Object.assign(stack, { logger });
      Object.assign(stack.ip, { logger });
    }
    stacks.push(a, b);
    const listener = await listen('tcp', ':7', { stack: b });
    void (async () => {
      for await (const conn of listener) {
        void (async () => {
          const buffer = new Uint8Array(4096);
          for (;;) {
            const n = await conn.read(buffer).catch(() => null);
            if (n === null) break;
            await conn.write(buffer.subarray(0, n)).catch(() => undefined);
          }
          conn.close();
        })();
      }
    })();
    const first = await dial('tcp', '10.0.0.2:7', { stack: a });
    const second = await dial('tcp', '10.0.0.2:7', { stack: a });
    const echoOnce = async (conn: typeof first, byte: number) => {
      await conn.write(Uint8Array.of(byte));
      const buffer = new Uint8Array(4);
      expect(await conn.read(buffer)).toBe(1);
      expect(buffer[0]).toBe(byte);
    };
    await echoOnce(first, 1);
    await echoOnce(second, 2);
    return { a, b, first, second, listener, echoOnce, faultyPort: first.localAddr.port };
  }

  it("an exception in one connection's segment handling aborts it alone, counted and logged", async () => {
    const lines: string[] = [];
    const { b, first, second, listener, echoOnce, faultyPort } = await twoEchoConnections(lines);
    const original = Object.getOwnPropertyDescriptor(TcpConnection.prototype, 'handleSegment')!.value as TcpConnection['handleSegment'];
    vi.spyOn(TcpConnection.prototype, 'handleSegment').mockImplementation(function (this: TcpConnection, segment) {
      if (this.tuple.localAddress === STACK && this.tuple.remotePort === faultyPort) throw new Error('injected segment fault');
      original.call(this, segment);
    });
    await first.write(Uint8Array.of(3));
    await expect(first.read(new Uint8Array(4))).rejects.toBeInstanceOf(NetError);
    expect(b.counters('tcp').get('connection_faults')).toBe(1);
    expect(lines.some((line) => line.startsWith('error tcp') && line.includes('injected segment fault'))).toBe(true);
    await echoOnce(second, 4);
    second.close();
    listener.close();
  });

  it("an exception in a connection's timer callback aborts it alone; the other timers still run", async () => {
    const lines: string[] = [];
    const { a, first, second, listener, echoOnce, faultyPort } = await twoEchoConnections(lines);
    // Stack A's side of the first connection throws from its keepalive timer.
    type KeepAliveTimeout = { onKeepAliveTimeout(now: number): void; tuple: TcpConnection['tuple'] };
    const prototype = TcpConnection.prototype as unknown as KeepAliveTimeout;
    const original = Object.getOwnPropertyDescriptor(prototype, 'onKeepAliveTimeout')!.value as KeepAliveTimeout['onKeepAliveTimeout'];
    vi.spyOn(prototype, 'onKeepAliveTimeout').mockImplementation(function (this: KeepAliveTimeout, now: number) {
      if (this.tuple.localPort === faultyPort) throw new Error('injected timer fault');
      original.call(this, now);
    });
    const fired: number[] = [];
    a.timers.schedule(a.clock.now() + 150, (now) => fired.push(now));
    first.setKeepAlive(true, 50);
    second.setKeepAlive(true, 50);
    await expect(first.read(new Uint8Array(4))).rejects.toMatchObject({ code: 'ECONNABORTED' });
    expect(a.counters('tcp').get('connection_faults')).toBe(1);
    expect(a.counters('timers').get('faults')).toBe(1);
    expect(lines.some((line) => line.includes('timer callback failed') && line.includes('injected timer fault'))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(fired).toHaveLength(1);
    await echoOnce(second, 6);
    second.close();
    listener.close();
  });

  it("an exception in a UDP socket's delivery closes that socket alone", async () => {
    const { link, stack } = replayStack();
    stacks.push(stack);
    const faulty = await listenPacket('udp', ':5000', { stack });
    const healthy = await listenPacket('udp', ':5001', { stack });
    (faulty as unknown as { deliver(): void }).deliver = () => {
      throw new Error('injected delivery fault');
    };
    const datagram = (port: number) => encodeUdpDatagram(40000, port, Uint8Array.of(9), HOST, STACK);
    link.inject([ipPacket(PROTOCOL_UDP, HOST, datagram(5000)), ipPacket(PROTOCOL_UDP, HOST, datagram(5001))]);
    expect(stack.counters('udp').get('socket_faults')).toBe(1);
    await expect(faulty.readFrom(new Uint8Array(4))).rejects.toMatchObject({ code: 'ECLOSED' });
    const { n } = await healthy.readFrom(new Uint8Array(4));
    expect(n).toBe(1);
    // The port is free again, and a datagram to it draws port unreachable.
    link.drain();
    link.inject([ipPacket(PROTOCOL_UDP, HOST, datagram(5000))]);
    const [reply] = link.drain();
    const parsed = parseIPv4Packet(reply!);
    expect(parsed.ok && parsed.header.protocol).toBe(PROTOCOL_ICMP);
    healthy.close();
  });
});

describe('configurations the link cannot carry are refused when the stack is made', () => {
  function refusal(make: () => unknown): NetError {
    try {
      make();
    } catch (error) {
      expect(error).toBeInstanceOf(NetError);
      expect((error as NetError).code).toBe('EINVAL');
      return error as NetError;
    }
    throw new Error('expected EINVAL');
  }

  it('refuses MTU 68 with SACK and timestamps (a segment with 40 bytes of options and 1 byte needs 81)', () => {
    expect(refusal(() => tcpConfigForLink(68)).message).toMatch(/MTU 68 .* at least 81/);
    expect(tcpConfigForLink(81).mss).toBe(41);
    expect(tcpConfigForLink(68, { sack: false }).mss).toBe(28);
    const [link] = memoryLinkPair(68);
    expect(refusal(() => new Stack({ link, address: '10.0.0.2' })).message).toContain('tcp.sack');
  });

  it('refuses an MSS larger than the MTU allows, or not a positive integer', () => {
    expect(refusal(() => tcpConfigForLink(1500, { mss: 1461 })).message).toContain('1460');
    refusal(() => tcpConfigForLink(1500, { mss: 0 }));
    refusal(() => tcpConfigForLink(1500, { mss: 100.5 }));
    expect(tcpConfigForLink(1500, { mss: 1460 }).mss).toBe(1460);
    refusal(() => tcpConfigForLink(67));
  });
});
