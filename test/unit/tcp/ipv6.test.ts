/**
 * TCP over IPv6 (issue 11) between two TCP layers joined by fake IP layers (test/support/
 * fake-ip-layer.ts): the handshake, data and FIN with the IPv6 pseudo-header checksum, the MSS
 * from the IPv6 MTU (RFC 8200 8.3), RSTs for no listener and for a listener of the other family,
 * ICMPv6 feedback found by its quote, SYN cookies with IPv6 MSS values, TIME-WAIT and RFC 6191
 * reuse on an IPv6 four-tuple, and the super-segment bound.
 */
import { describe, expect, it } from 'vitest';
import type { NetError } from '../../../src/errors.js';
import type { TransportQuote } from '../../../src/ip/transport-contract.js';
import type { TcpConnection } from '../../../src/tcp/connection.js';
import { seqAdd } from '../../../src/tcp/seq.js';
import {
  COOKIE_MSS_TABLE,
  COOKIE_MSS_TABLE6,
  CookieSourceBudget,
  COOKIES_PER_SOURCE_PER_SECOND,
  SynCookies,
} from '../../../src/tcp/syn-cookies.js';
import { TcpLayer, type TcpListenerEndpoint } from '../../../src/tcp/tcp-layer.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from '../../../src/tcp/types.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import type { IPAddress } from '../../../src/wire/address6.js';
import { PROTOCOL_TCP } from '../../../src/wire/ipv4.js';
import {
  parseTcpSegment,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  tcpSegmentLength,
  writeTcpSegment,
  type TcpOptions,
  type TcpSegment,
} from '../../../src/wire/tcp.js';
import { FakeIpLayer, ipv6, type SentPacket } from '../../support/fake-ip-layer.js';
import { patternBytes } from '../../support/tcp-harness.js';

const A4 = parseIPv4Address('10.0.0.1')!;
const B4 = parseIPv4Address('10.0.0.2')!;
const A6 = ipv6('fd00::a');
const B6 = ipv6('fd00::b');

/** A listener endpoint that keeps what it accepts. */
function listener(fields: Partial<Pick<TcpListenerEndpoint, 'family' | 'boundAddress' | 'maxHalfOpen'>> = {}): TcpListenerEndpoint & {
  accepted: TcpConnection[];
} {
  const accepted: TcpConnection[] = [];
  return { acceptQueueRoom: 16, maxHalfOpen: 16, ...fields, accepted, enqueue: (c) => accepted.push(c) };
}

/** Two TCP layers, A (10.0.0.1, fd00::a) and B (10.0.0.2, fd00::b), back to back. */
function pair(options: { mtuA?: number; mtuB?: number; tcp?: Partial<TcpConfig> } = {}) {
  const [ipA, ipB] = FakeIpLayer.pair(
    { address: A4, address6: A6, mtu: options.mtuA ?? 1500 },
    { address: B4, address6: B6, mtu: options.mtuB ?? 1500 },
  );
  const config = (mtu: number): TcpConfig => ({ ...DEFAULT_TCP_CONFIG, mss: mtu - 40, ...options.tcp });
  const a = new TcpLayer(ipA, config(ipA.mtu));
  const b = new TcpLayer(ipB, config(ipB.mtu));
  ipA.register(PROTOCOL_TCP, a);
  ipB.register(PROTOCOL_TCP, b);
  return { ipA, ipB, a, b };
}

/** The segment in a sent packet, parsed with its own addresses (so its checksum is checked). */
function segmentOf(packet: SentPacket): TcpSegment {
  const parsed = parseTcpSegment(packet.transport, packet.source, packet.destination);
  if (!parsed.ok) throw new Error(`unparsable segment: ${parsed.reason}`);
  return parsed.segment;
}

/** The transport bytes of `segment` from `source` to `destination`, with its checksum. */
function segmentBytes(segment: TcpSegment, source: IPAddress, destination: IPAddress): Uint8Array {
  const bytes = new Uint8Array(tcpSegmentLength(segment.options, segment.payload.length));
  writeTcpSegment(bytes, 0, segment, source, destination, 'full');
  return bytes;
}

function syn(sourcePort: number, destinationPort: number, seq: number, options: TcpOptions = { mss: 1440 }): TcpSegment {
  return { sourcePort, destinationPort, seq, ack: 0, flags: TCP_SYN, window: 65535, urgentPointer: 0, options, payload: new Uint8Array(0) };
}

/** A connection from A to B's port 80 over IPv6 (B listening with `server`), handshake done. */
function connected(p: ReturnType<typeof pair>, server = listener()) {
  p.b.listen(80, server);
  const client = p.a.connect(B6, 80);
  p.ipA.pump();
  return { client, server, accepted: server.accepted[0] };
}

/**
 * Carry packets and move time (10 ms a step, for the timers data may wait on: delayed ACKs,
 * retransmissions) until `done`, at most 10 000 steps.
 */
function drive(ip: FakeIpLayer, done: () => boolean, keep?: (packet: SentPacket) => boolean): void {
  for (let step = 0; step < 10_000 && !done(); step++) {
    ip.pump(keep);
    if (!done()) ip.time.advance(10);
  }
  expect(done()).toBe(true);
}

/** Read everything readable from `connection`. */
function readAll(connection: TcpConnection): Uint8Array {
  const out = new Uint8Array(connection.readableLength);
  let at = 0;
  while (at < out.length) at += connection.read(out.subarray(at));
  return out;
}

describe('TCP over IPv6 between two layers', () => {
  it('opens, carries data both ways and closes, every segment with the IPv6 pseudo-header checksum and the MSS of MTU - 60', () => {
    const { ipA, ipB, a, b } = pair();
    const server = listener();
    b.listen(80, server);
    const client = a.connect(B6, 80);
    expect(client.tuple.localAddress).toBe(A6);
    const seen: SentPacket[] = [];
    ipA.pump((packet) => (seen.push(packet), true));
    expect(client.state).toBe('ESTABLISHED');
    expect(server.accepted).toHaveLength(1);
    const accepted = server.accepted[0]!;
    expect(accepted.tuple).toEqual({ localAddress: B6, localPort: 80, remoteAddress: A6, remotePort: client.tuple.localPort });
    // RFC 8200 8.3: the SYN and the SYN-ACK offer 1500 - 60; with timestamps 12 bytes less per segment.
    const synSegments = seen.map(segmentOf).filter((s) => s.flags & TCP_SYN);
    expect(synSegments.map((s) => s.options.mss)).toEqual([1440, 1440]);
    expect(client.maxSegmentSize).toEqual({ peer: 1440, send: 1428 });
    expect(accepted.maxSegmentSize).toEqual({ peer: 1440, send: 1428 });

    const request = patternBytes(100_000);
    const response = patternBytes(50_000, 7);
    let written = 0;
    let answered = 0;
    const received: Uint8Array[] = [];
    const echoed: Uint8Array[] = [];
    let receivedBytes = 0;
    let echoedBytes = 0;
    drive(
      ipA,
      () => {
        written += client.write(request.subarray(written));
        answered += accepted.write(response.subarray(answered));
        received.push(readAll(accepted));
        echoed.push(readAll(client));
        receivedBytes += received.at(-1)!.length;
        echoedBytes += echoed.at(-1)!.length;
        return receivedBytes === request.length && echoedBytes === response.length;
      },
      (packet) => {
        expect(packet.source).toBe(packet.destination === B6 ? A6 : B6);
        // Every segment fits the IPv6 MTU: 40 bytes of IPv6 header in front of it.
        expect(packet.transport.length + 40).toBeLessThanOrEqual(1500);
        return true;
      },
    );
    expect(Buffer.concat(received)).toEqual(Buffer.from(request));
    expect(Buffer.concat(echoed)).toEqual(Buffer.from(response));

    client.close();
    ipA.pump();
    expect(accepted.receivedFin).toBe(true);
    accepted.close();
    ipA.pump();
    expect(client.state).toBe('TIME-WAIT');
    expect(a.timeWaitCount).toBe(1);
    expect(b.connectionCount).toBe(0);
    expect(ipB.counters('tcp').get('dropped')).toBe(0);
    expect(ipA.counters('tcp').get('dropped')).toBe(0);
  });

  it('keeps IPv4 beside it: the same layers speak both families, each with its own MSS', () => {
    const { ipA, a, b } = pair();
    const server = listener();
    b.listen(80, server);
    const over6 = a.connect(B6, 80);
    const over4 = a.connect(B4, 80);
    ipA.pump();
    expect(over6.state).toBe('ESTABLISHED');
    expect(over4.state).toBe('ESTABLISHED');
    expect(over6.maxSegmentSize.peer).toBe(1440);
    expect(over4.maxSegmentSize.peer).toBe(1460);
    expect(server.accepted.map((c) => typeof c.tuple.remoteAddress).sort()).toEqual(['number', 'string']);
  });

  it('offers the smaller of tcp.mss and MTU - 60 over IPv6, the caller`s MSS over IPv4', () => {
    const { ipA, a, b } = pair({ tcp: { mss: 1000 } });
    b.listen(80, listener());
    expect(a.configFor(B6).mss).toBe(1000);
    const { a: large } = pair({ mtuA: 9000, tcp: { mss: 8960 } });
    expect(large.configFor(B6).mss).toBe(8940);
    expect(large.configFor(B4).mss).toBe(8960);
    const client = a.connect(B6, 80);
    ipA.pump();
    expect(client.maxSegmentSize.peer).toBe(1000);
  });

  it('answers a SYN for a port nobody listens on with a RST to the IPv6 source', () => {
    const { ipA, ipB, b } = pair();
    ipB.deliver(PROTOCOL_TCP, A6, B6, segmentBytes(syn(40000, 81, 1000), A6, B6));
    expect(ipB.counters('tcp').get('drop.no_connection')).toBe(1);
    expect(ipB.sent).toHaveLength(1);
    const [reset] = ipB.sent;
    expect(reset!.source).toBe(B6);
    expect(reset!.destination).toBe(A6);
    const segment = segmentOf(reset!);
    expect(segment.flags).toBe(TCP_RST | TCP_ACK);
    expect(segment.ack).toBe(1001);
    expect(b.connectionCount).toBe(0);
    expect(ipA.sent).toHaveLength(0);
  });

  describe('a listener`s family (Go`s tcp4 / tcp6) and bound address', () => {
    const cases: Array<{ name: string; endpoint: Partial<TcpListenerEndpoint>; from: IPAddress; to: IPAddress; accepted: boolean }> = [
      { name: 'both families take IPv6', endpoint: {}, from: A6, to: B6, accepted: true },
      { name: 'both families take IPv4', endpoint: {}, from: A4, to: B4, accepted: true },
      { name: 'tcp6 takes IPv6', endpoint: { family: 6 }, from: A6, to: B6, accepted: true },
      { name: 'tcp6 refuses IPv4', endpoint: { family: 6 }, from: A4, to: B4, accepted: false },
      { name: 'tcp4 refuses IPv6', endpoint: { family: 4 }, from: A6, to: B6, accepted: false },
      { name: 'bound to fd00::b takes it', endpoint: { boundAddress: B6 }, from: A6, to: B6, accepted: true },
      { name: 'bound to fd00::b refuses IPv4', endpoint: { boundAddress: B6 }, from: A4, to: B4, accepted: false },
      { name: 'bound to 10.0.0.2 refuses IPv6', endpoint: { boundAddress: B4 }, from: A6, to: B6, accepted: false },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const { ipB, b } = pair();
        b.listen(80, listener(c.endpoint));
        ipB.deliver(PROTOCOL_TCP, c.from, c.to, segmentBytes(syn(40000, 80, 1000), c.from, c.to));
        const answer = segmentOf(ipB.sent[0]!);
        expect(ipB.sent[0]!.destination).toBe(c.from);
        expect(answer.flags).toBe(c.accepted ? TCP_SYN | TCP_ACK : TCP_RST | TCP_ACK);
        expect(ipB.counters('tcp').get('drop.no_connection')).toBe(c.accepted ? 0 : 1);
      });
    }

    it('a listener bound to ::1 is not reached at fd00::b', () => {
      const { ipB, b } = pair();
      b.listen(80, listener({ boundAddress: ipv6('::1') }));
      ipB.deliver(PROTOCOL_TCP, A6, B6, segmentBytes(syn(40000, 80, 1000), A6, B6));
      expect(segmentOf(ipB.sent[0]!).flags & TCP_RST).toBe(TCP_RST);
    });
  });

  it('a transparent listener takes IPv6 connections to addresses not ours, answering from the address asked for', () => {
    const { ipB, b } = pair();
    const foreign = ipv6('2001:db8::80');
    const transparent = listener();
    b.listenTransparent(transparent);
    ipB.deliver(PROTOCOL_TCP, A6, foreign, segmentBytes(syn(40000, 443, 1000), A6, foreign));
    const [synAck] = ipB.sent.splice(0);
    expect(synAck!.source).toBe(foreign);
    expect(segmentOf(synAck!).flags).toBe(TCP_SYN | TCP_ACK);
    const ack: TcpSegment = { ...syn(40000, 443, 1001), flags: TCP_ACK, ack: seqAdd(segmentOf(synAck!).seq, 1), options: {} };
    ipB.deliver(PROTOCOL_TCP, A6, foreign, segmentBytes(ack, A6, foreign));
    expect(transparent.accepted[0]!.tuple).toEqual({ localAddress: foreign, localPort: 443, remoteAddress: A6, remotePort: 40000 });
    b.unlistenTransparent(transparent);
    // A transparent listener for IPv4 only sends an IPv6 SYN away with a RST.
    const only4 = listener({ family: 4 });
    b.listenTransparent(only4);
    ipB.deliver(PROTOCOL_TCP, A6, foreign, segmentBytes(syn(40001, 443, 1000), A6, foreign));
    expect(segmentOf(ipB.sent.splice(0)[0]!).flags & TCP_RST).toBe(TCP_RST);
    expect(only4.accepted).toHaveLength(0);
  });

  it('routes an ICMPv6 packet too big to the connection its quote names, which resends within the new MTU', () => {
    const p = pair();
    const { ipA, a } = p;
    const { client, server } = connected(p);
    client.write(patternBytes(20_000));
    const flight = ipA.sent.splice(0);
    expect(flight.length).toBeGreaterThan(1);
    const first = flight[0]!;
    expect(first.transport.length + 40).toBe(1500);
    const quote: TransportQuote = {
      protocol: PROTOCOL_TCP,
      source: A6,
      destination: B6,
      sourcePort: client.tuple.localPort,
      destinationPort: 80,
      transport: first.transport.subarray(0, 8),
    };
    // A quote of another connection's port is nobody's.
    expect(a.receivePathMtuReduced({ ...quote, sourcePort: quote.sourcePort + 1 }, 1280)).toBe(false);
    expect(a.counters.get('drop.pmtu_no_connection')).toBe(1);
    expect(a.receivePathMtuReduced(quote, 1280)).toBe(true);
    // The segments now fit 1280: 1280 - 60 less the 12 bytes of timestamps.
    expect(client.maxSegmentSize.send).toBe(1208);
    // What is resent at once (the rest follows the ACKs), within 1280.
    expect(ipA.sent.length).toBeGreaterThan(0);
    let delivered = 0;
    drive(
      ipA,
      () => (delivered += readAll(server.accepted[0]!).length) === 20_000,
      (packet) => {
        expect(packet.transport.length + 40).toBeLessThanOrEqual(1280);
        return true;
      },
    );
  });

  it('routes an ICMPv6 destination unreachable to an opening connection, which fails with its error', () => {
    const { ipA, a } = pair();
    const client = a.connect(B6, 80);
    let closedWith: string | undefined;
    client.events = { onClosed: (error) => (closedWith = error) };
    const synPacket = ipA.sent.splice(0)[0]!;
    a.receiveIcmpError(
      { code: 'ECONNREFUSED', hard: true },
      {
        protocol: PROTOCOL_TCP,
        source: A6,
        destination: B6,
        sourcePort: client.tuple.localPort,
        destinationPort: 80,
        transport: synPacket.transport.subarray(0, 8),
      },
    );
    expect(closedWith).toBe('ECONNREFUSED');
    expect(a.connectionCount).toBe(0);
  });

  it('refuses to dial IPv6 on a stack without an IPv6 address', () => {
    const [ip] = FakeIpLayer.pair({ address: A4, address6: undefined }, { address: B4, address6: B6 });
    const layer = new TcpLayer(ip, DEFAULT_TCP_CONFIG);
    expect(() => layer.connect(B6, 80)).toThrow(expect.objectContaining({ code: 'ENETUNREACH' }) as NetError);
  });

  it('bounds an IPv6 super-segment to a 65535-byte packet: 20 bytes less payload than IPv4', () => {
    const { ipA, a } = pair();
    ipA.tcpSegmentation = true;
    expect(a.superSegmentPayload(B4)).toBe(65535 - 20 - 60);
    expect(a.superSegmentPayload(B6)).toBe(65535 - 40 - 60);
    ipA.tcpSegmentation = false;
    expect(a.superSegmentPayload(B6)).toBe(0);
  });
});

describe('SYN cookies over IPv6', () => {
  it('carries the MSS of a 1280-byte IPv6 path (1220) through a cookie', () => {
    const p = pair({ mtuA: 1280 });
    const { b } = p;
    const { client, server } = connected(p, listener({ maxHalfOpen: 0 }));
    expect(b.counters.get('syncookies_sent')).toBe(1);
    expect(b.counters.get('syncookies_accepted')).toBe(1);
    expect(client.state).toBe('ESTABLISHED');
    expect(server.accepted[0]!.maxSegmentSize.peer).toBe(1220);
  });

  it('round-trips every IPv6 table entry on an IPv6 four-tuple, and a cookie is valid only for its tuple', () => {
    const cookies = new SynCookies(new Uint8Array(16).fill(3));
    const tuple6 = { localAddress: B6, localPort: 80, remoteAddress: A6, remotePort: 40000 };
    const now = 10 * 64_000;
    for (const mss of COOKIE_MSS_TABLE6) {
      const cookie = cookies.issue(tuple6, 777, mss, now);
      expect(cookies.validate(tuple6, 777, cookie, now)).toBe(mss);
      expect(cookies.validate({ ...tuple6, remoteAddress: ipv6('fd00::c') }, 777, cookie, now)).toBeUndefined();
    }
    // The IPv4 table is unchanged: 1220 over IPv4 rounds down to 536.
    const tuple4 = { localAddress: B4, localPort: 80, remoteAddress: A4, remotePort: 40000 };
    expect(cookies.validate(tuple4, 777, cookies.issue(tuple4, 777, 1220, now), now)).toBe(COOKIE_MSS_TABLE[0]);
  });

  it('rounds IPv6 MSS values down to its own table', () => {
    for (const [offered, carried] of [
      [1440, 1440],
      [1439, 1420],
      [1300, 1220],
      [1219, 536],
      [8940, 1440],
    ] as const) {
      const { ipB, b } = pair();
      b.listen(80, listener({ maxHalfOpen: 0 }));
      ipB.deliver(PROTOCOL_TCP, A6, B6, segmentBytes(syn(40000, 80, 1000, { mss: offered }), A6, B6));
      const synAck = segmentOf(ipB.sent.splice(0)[0]!);
      expect(synAck.flags).toBe(TCP_SYN | TCP_ACK);
      const ack: TcpSegment = { ...syn(40000, 80, 1001), flags: TCP_ACK, ack: seqAdd(synAck.seq, 1), options: {} };
      ipB.deliver(PROTOCOL_TCP, A6, B6, segmentBytes(ack, A6, B6));
      expect(b.counters.get('syncookies_accepted')).toBe(1);
      expect(b.connectionCount).toBe(1);
      expect(ipB.sent).toHaveLength(0);
      const { peer } = (b as unknown as { connections: Map<string, TcpConnection> }).connections.values().next().value!.maxSegmentSize;
      expect(peer, `offered ${offered}`).toBe(carried);
    }
  });

  it('counts an IPv6 source by its /64: other addresses of it share the budget, another /64 has its own', () => {
    const budget = new CookieSourceBudget(2);
    expect(budget.take(ipv6('2001:db8:1:2::1'), 0)).toBe(true);
    expect(budget.take(ipv6('2001:db8:1:2::ffff'), 0)).toBe(true);
    expect(budget.take(ipv6('2001:db8:1:2:abcd::9'), 0)).toBe(false);
    expect(budget.take(ipv6('2001:db8:1:3::1'), 0)).toBe(true);
    expect(budget.take(A4, 0)).toBe(true);
    expect(COOKIES_PER_SOURCE_PER_SECOND).toBeGreaterThan(2);
  });
});

describe('TIME-WAIT on an IPv6 four-tuple', () => {
  it('holds the tuple, answers a retransmitted FIN and reopens on an RFC 6191 SYN with a newer timestamp', () => {
    const { ipA, ipB, a, b } = pair();
    const server = listener();
    a.listen(80, server);
    const client = b.connect(A6, 80);
    ipA.pump();
    const accepted = server.accepted[0]!;
    // The server closes first, so the server (A) holds TIME-WAIT.
    accepted.close();
    ipA.pump();
    client.close();
    ipA.pump();
    expect(a.timeWaitCount).toBe(1);
    expect(a.fourTupleInUse(A6, B6, client.tuple.localPort, 80)).toBe(true);
    expect(a.fourTupleInUse(A6, B6, client.tuple.localPort + 1, 80)).toBe(false);
    // The same ports over IPv4 are another four-tuple.
    expect(a.fourTupleInUse(A4, B4, client.tuple.localPort, 80)).toBe(false);

    // RFC 6191: a SYN on the same tuple with a newer TSval reopens it at once.
    const tsNow = Math.floor(ipB.time.now()) + 1000;
    ipA.deliver(
      PROTOCOL_TCP,
      B6,
      A6,
      segmentBytes(syn(client.tuple.localPort, 80, 12345, { mss: 1440, timestamp: { value: tsNow, echo: 0 } }), B6, A6),
    );
    expect(a.counters.get('time_wait_reused')).toBe(1);
    const synAck = segmentOf(ipA.sent.splice(0)[0]!);
    expect(synAck.flags).toBe(TCP_SYN | TCP_ACK);
    expect(a.timeWaitCount).toBe(0);
  });

  it('expires after 2 MSL and frees the tuple', () => {
    const p = pair();
    const { ipA, a } = p;
    const { client, server } = connected(p);
    client.close();
    ipA.pump();
    server.accepted[0]!.close();
    ipA.pump();
    expect(a.timeWaitCount).toBe(1);
    ipA.time.advance(2 * DEFAULT_TCP_CONFIG.msl + 1);
    expect(a.timeWaitCount).toBe(0);
    expect(a.fourTupleInUse(A6, B6, 80, client.tuple.localPort)).toBe(false);
  });

  it('accepts a FIN after data through the connection table keyed by the 18-unit IPv6 key', () => {
    const p = pair();
    const { ipA } = p;
    const { client, server } = connected(p);
    client.write(new Uint8Array([1, 2, 3]));
    client.close();
    const fins: TcpSegment[] = [];
    ipA.pump((packet) => {
      const segment = segmentOf(packet);
      if (segment.flags & TCP_FIN) fins.push(segment);
      return true;
    });
    expect(fins.length).toBeGreaterThan(0);
    expect([...readAll(server.accepted[0]!)]).toEqual([1, 2, 3]);
    expect(server.accepted[0]!.receivedFin).toBe(true);
  });
});
