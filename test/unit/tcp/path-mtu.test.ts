/**
 * TCP path MTU discovery (RFC 1191, RFC 1122 4.2.3.9, RFC 5927): fragmentation needed quoting a
 * segment in flight lowers SMSS and resends the flight at once in segments of the new size, with
 * no congestion response; one quoting a sequence not in flight is counted and ignored. First the
 * connection on its own (TcpHarness), then through a whole stack with crafted ICMP.
 */
import { describe, expect, it } from 'vitest';
import { readUint32, writeUint32 } from '../../../src/bytes.js';
import { FakeClock } from '../../../src/clock.js';
import { Stack } from '../../../src/stack.js';
import type { TcpConnection } from '../../../src/tcp/connection.js';
import { encodeIcmpError, FRAGMENTATION_NEEDED, ICMP_DEST_UNREACHABLE } from '../../../src/wire/icmpv4.js';
import { IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_ICMP, PROTOCOL_TCP } from '../../../src/wire/ipv4.js';
import { parseTcpSegment, TCP_ACK, TCP_SYN, type TcpSegment } from '../../../src/wire/tcp.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { ipv4Packet, tcpPacket, tcpSegment, TEST_DESTINATION, TEST_SOURCE } from '../../support/packets.js';
import { patternBytes, payloadTotal, TcpHarness } from '../../support/tcp-harness.js';

describe('TcpConnection.handlePathMtuReduced', () => {
  /** An established connection (peer MSS 1460, no timestamps) with `bytes` written, the first flight sent. */
  function withFlight(bytes = 20 * 1460, synOptions: TcpSegment['options'] = { mss: 1460 }) {
    const h = new TcpHarness();
    h.openActive(synOptions);
    h.conn.write(patternBytes(bytes));
    const flight = h.take();
    return { h, flight };
  }

  it('lowers SMSS to path MTU - 40 and resends the flight at once in segments of that size', () => {
    const { h, flight } = withFlight();
    expect(flight.every((s) => s.payload.length === 1460)).toBe(true);
    const inFlight = payloadTotal(flight);
    const cwndBefore = h.conn.stats().cwnd;
    const retransmissionsBefore = h.conn.stats().retransmissions;

    expect(h.conn.handlePathMtuReduced(h.ourSeq(1460), 1000)).toBe(true);
    expect(h.conn.maxSegmentSize.send).toBe(960);
    expect(h.counters.get('pmtu_mss_reduced')).toBe(1);
    const resent = h.take();
    // From SND.UNA, as much of the flight as cwnd allows at once, no segment above the new size.
    expect(resent[0]!.seq).toBe(h.ourSeq(0));
    expect(Math.max(...resent.map((s) => s.payload.length))).toBe(960);
    expect(payloadTotal(resent)).toBeGreaterThanOrEqual(Math.min(inFlight, h.conn.stats().cwnd - 960));
    expect(payloadTotal(resent)).toBeLessThanOrEqual(inFlight);
    expect(resent.every((s, i) => s.seq === h.ourSeq(i * 960))).toBe(true);
    // RFC 1191 section 6.4: not congestion: cwnd keeps its number of segments (of the new size).
    expect(h.conn.stats().cwnd / 960).toBe(cwndBefore / 1460);
    expect(h.conn.stats().retransmissions).toBeGreaterThan(retransmissionsBefore);

    // What follows the ACK of the resent flight is new data in segments of the new size.
    h.ack(inFlight);
    const next = h.take().filter((s) => s.payload.length > 0);
    expect(next.length).toBeGreaterThan(0);
    expect(next.every((s) => s.payload.length <= 960)).toBe(true);
    expect(next[0]!.seq).toBe(h.ourSeq(inFlight));
  });

  it('resends a flight once: more messages for the same MTU only confirm it (RFC 1191 6.4)', () => {
    const { h } = withFlight();
    h.conn.handlePathMtuReduced(h.ourSeq(0), 1000);
    h.take();
    expect(h.conn.handlePathMtuReduced(h.ourSeq(2 * 1460), 1000)).toBe(true);
    expect(h.conn.handlePathMtuReduced(h.ourSeq(3 * 1460), 1200)).toBe(true);
    expect(h.take()).toEqual([]);
    expect(h.counters.get('pmtu_mss_unchanged')).toBe(2);
    expect(h.counters.get('pmtu_mss_reduced')).toBe(1);
  });

  it('ignores and counts a message quoting a sequence number not in flight (RFC 5927 4.1)', () => {
    const { h, flight } = withFlight();
    const sndMax = payloadTotal(flight);
    // At SND.MAX (nothing sent there yet), far beyond it, and below SND.UNA once acknowledged.
    expect(h.conn.handlePathMtuReduced(h.ourSeq(sndMax), 1000)).toBe(false);
    expect(h.conn.handlePathMtuReduced(h.ourSeq(sndMax + 0x40000000), 1000)).toBe(false);
    h.ack(1460);
    h.take();
    expect(h.conn.handlePathMtuReduced(h.ourSeq(0), 1000)).toBe(false);
    expect(h.counters.get('drop.pmtu_not_in_flight')).toBe(3);
    expect(h.conn.maxSegmentSize.send).toBe(1460);
    expect(h.take()).toEqual([]);
  });

  it('takes the timestamp option out of the new SMSS as it does from the negotiated one', () => {
    const { h } = withFlight(20 * 1448, { mss: 1460, timestamp: { value: 1, echo: 0 } });
    expect(h.conn.maxSegmentSize.send).toBe(1448);
    h.conn.handlePathMtuReduced(h.ourSeq(0), 1000);
    expect(h.conn.maxSegmentSize.send).toBe(1000 - 40 - 12);
    expect(Math.max(...h.take().map((s) => s.payload.length))).toBe(948);
  });

  it('keeps the 536-byte floor for a path below 576 bytes, and the peer MSS when smaller', () => {
    const { h } = withFlight();
    h.conn.handlePathMtuReduced(h.ourSeq(0), 296);
    expect(h.conn.maxSegmentSize.send).toBe(536);
    expect(h.conn.pathMtu).toBe(296);
    const small = withFlight(4000, { mss: 500 });
    expect(small.h.conn.handlePathMtuReduced(small.h.ourSeq(0), 1000)).toBe(true);
    expect(small.h.conn.maxSegmentSize.send).toBe(500);
    expect(small.h.counters.get('pmtu_mss_unchanged')).toBe(1);
  });

  it('applies a path MTU learned before the handshake once the MSS is negotiated', () => {
    const h = new TcpHarness();
    h.conn.limitToKnownPathMtu(1000);
    h.openActive({ mss: 1460 });
    expect(h.conn.maxSegmentSize.send).toBe(960);
    h.conn.write(patternBytes(5000));
    expect(Math.max(...h.take().map((s) => s.payload.length))).toBe(960);
  });
});

describe('path MTU discovery through the stack', () => {
  const PEER_PORT = 80;

  interface SentTcp {
    packet: Uint8Array;
    dontFragment: boolean;
    segment: TcpSegment;
  }

  function sentTcp(packets: readonly Uint8Array[]): SentTcp[] {
    const out: SentTcp[] = [];
    for (const packet of packets) {
      const ip = parseIPv4Packet(packet);
      if (!ip.ok || ip.header.protocol !== PROTOCOL_TCP) continue;
      const tcp = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
      if (!tcp.ok) throw new Error(tcp.reason);
      out.push({ packet, dontFragment: ip.header.dontFragment, segment: tcp.segment });
    }
    return out;
  }

  /** A stack at 10.0.0.2 whose connection to 10.0.0.1:80 is established (peer MSS 1460, no options). */
  function connected(
    link = new ReplayLink(1500),
    stack = new Stack({ link, address: TEST_DESTINATION, clock: new FakeClock(0), manualTimers: true }),
  ) {
    const connection: TcpConnection = stack.tcp.connect(TEST_SOURCE, PEER_PORT);
    const [syn] = sentTcp(link.drain());
    link.inject([
      tcpPacket(
        tcpSegment({
          sourcePort: PEER_PORT,
          destinationPort: syn!.segment.sourcePort,
          seq: 7000,
          ack: (syn!.segment.seq + 1) >>> 0,
          flags: TCP_SYN | TCP_ACK,
          options: { mss: 1460 },
        }),
        { source: TEST_SOURCE, destination: TEST_DESTINATION },
      ),
    ]);
    link.drain();
    expect(connection.state).toBe('ESTABLISHED');
    return { link, stack, connection };
  }

  function headersOf(packets: readonly Uint8Array[]) {
    return packets.map((packet) => {
      const parsed = parseIPv4Packet(packet);
      if (!parsed.ok) throw new Error(parsed.reason);
      return parsed.header;
    });
  }

  /** The router's fragmentation needed about `offending`, next-hop MTU `mtu`. */
  function fragmentationNeeded(offending: Uint8Array, mtu: number): Uint8Array {
    return ipv4Packet(encodeIcmpError(ICMP_DEST_UNREACHABLE, FRAGMENTATION_NEEDED, offending, mtu), {
      protocol: PROTOCOL_ICMP,
      source: TEST_SOURCE,
      destination: TEST_DESTINATION,
    });
  }

  it('resizes a connection with data in flight; its later segments fit the new MTU with DF; new connections start there', () => {
    const { link, stack, connection } = connected();
    connection.write(patternBytes(30_000));
    const flight = sentTcp(link.drain());
    expect(flight.length).toBeGreaterThan(1);
    expect(flight.every((s) => s.dontFragment && s.packet.length === 1500)).toBe(true);

    link.inject([fragmentationNeeded(flight[2]!.packet, 1000)]);
    const resent = sentTcp(link.drain());
    expect(resent.length).toBeGreaterThan(0);
    expect(resent.every((s) => s.dontFragment && s.packet.length <= 1000)).toBe(true);
    expect(stack.ip.pathMtu(TEST_SOURCE)).toBe(1000);
    expect(stack.counters('ip').get('pmtu_reduced')).toBe(1);
    expect(stack.counters('tcp').get('pmtu_mss_reduced')).toBe(1);
    // Not an error a timeout would report: the soft-error path is not taken.
    expect(stack.counters('tcp').get('icmp_errors')).toBe(0);

    // The rest of the flight draws the same message: no second resend.
    link.inject([fragmentationNeeded(flight[3]!.packet, 1000)]);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('tcp').get('pmtu_mss_unchanged')).toBe(1);

    const second = connected(link, stack);
    second.connection.write(patternBytes(5000));
    const fresh = sentTcp(link.drain());
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.every((s) => s.dontFragment && s.packet.length <= 1000)).toBe(true);
  });

  it('ignores a message quoting a sequence number not in flight, and does not lower the estimate', () => {
    const { link, stack, connection } = connected();
    connection.write(patternBytes(10_000));
    const [first] = sentTcp(link.drain());
    const forged = Uint8Array.from(first!.packet);
    writeUint32(forged, IPV4_MIN_HEADER + 4, (readUint32(forged, IPV4_MIN_HEADER + 4) + 0x40000000) >>> 0);
    link.inject([fragmentationNeeded(forged, 1000)]);
    expect(stack.counters('tcp').get('drop.pmtu_not_in_flight')).toBe(1);
    expect(stack.counters('icmp').get('drop.frag_needed_not_in_flight')).toBe(1);
    expect(stack.ip.pathMtu(TEST_SOURCE)).toBe(1500);
    expect(connection.maxSegmentSize.send).toBe(1460);
    expect(link.drain()).toEqual([]);
  });

  it('on a path below 576 bytes keeps 536-byte segments and sends them without DF, fragmented to the path', () => {
    const { link, stack, connection } = connected();
    connection.write(patternBytes(4000));
    const flight = sentTcp(link.drain());
    link.inject([fragmentationNeeded(flight[0]!.packet, 296)]);
    expect(connection.maxSegmentSize.send).toBe(536);
    expect(stack.ip.pathMtu(TEST_SOURCE)).toBe(296);
    // The flight is resent at once in 576-byte datagrams without DF. (They left while the
    // connection handled the message, before the IP layer recorded the estimate, so a router
    // fragments these; what follows is fragmented here.)
    const resent = headersOf(link.drain());
    expect(resent.every((header) => header.totalLength <= 576 && (header.totalLength <= 296 || !header.dontFragment))).toBe(true);
    expect(resent.filter((header) => header.totalLength === 576)).not.toHaveLength(0);
    const inFlight = flight.reduce((n, s) => n + s.segment.payload.length, 0);
    link.inject([
      tcpPacket(
        tcpSegment({
          sourcePort: PEER_PORT,
          destinationPort: flight[0]!.segment.sourcePort,
          seq: 7001,
          ack: (flight[0]!.segment.seq + inFlight) >>> 0,
          flags: TCP_ACK,
        }),
        { source: TEST_SOURCE, destination: TEST_DESTINATION },
      ),
    ]);
    connection.write(patternBytes(4000));
    const later = headersOf(link.drain());
    expect(later.some((header) => header.moreFragments)).toBe(true);
    expect(later.every((header) => !header.dontFragment && header.totalLength <= 296)).toBe(true);
  });
});
