/**
 * TCP small queues (issue 10, backpressure from a full TX ring): while the link's transmit queue
 * holds more than the limit, a connection with data in flight sends no new data and waits for
 * its next ACK, instead of handing the link segments it would drop; one with nothing in flight
 * still sends (no ACK would come to wake it).
 */
import { describe, expect, it } from 'vitest';
import { listen } from '../../../src/api/net.js';
import { FakeClock } from '../../../src/clock.js';
import { Stack } from '../../../src/stack.js';
import { parseIPv4Packet } from '../../../src/wire/ipv4.js';
import { parseTcpSegment, TCP_SYN, type TcpSegment } from '../../../src/wire/tcp.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { TEST_DESTINATION, TEST_SOURCE, tcpPacket, tcpSegment } from '../../support/packets.js';

const PEER_ISN = 7000;
const MSS = 1000;

/** A replay link whose transmit queue the test fills and drains by hand. */
class QueueingLink extends ReplayLink {
  queuedBytes = 0;
  readonly queueCapacity = 16 << 20;
}

function dataSegments(link: QueueingLink): TcpSegment[] {
  return link
    .drain()
    .map((packet) => {
      const ip = parseIPv4Packet(packet);
      if (!ip.ok) throw new Error(ip.reason);
      const tcp = parseTcpSegment(ip.payload, TEST_DESTINATION, TEST_SOURCE);
      if (!tcp.ok) throw new Error(tcp.reason);
      return tcp.segment;
    })
    .filter((segment) => segment.payload.length > 0);
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('TCP holds new data while the link queue is full', () => {
  it('sends one segment with nothing in flight, then waits for an ACK; a drained queue lets the window go', async () => {
    const link = new QueueingLink(1500);
    const stack = new Stack({ link, address: TEST_DESTINATION, clock: new FakeClock(0), manualTimers: true });
    const listener = await listen('tcp', ':80', { stack });
    link.inject([tcpPacket(tcpSegment({ seq: PEER_ISN, ack: 0, flags: TCP_SYN, options: { mss: MSS } }))]);
    const [synAck] = link.drain().map((packet) => {
      const ip = parseIPv4Packet(packet);
      if (!ip.ok) throw new Error(ip.reason);
      const tcp = parseTcpSegment(ip.payload, TEST_DESTINATION, TEST_SOURCE);
      if (!tcp.ok) throw new Error(tcp.reason);
      return tcp.segment;
    });
    const iss = synAck!.seq;
    link.inject([tcpPacket(tcpSegment({ seq: PEER_ISN + 1, ack: (iss + 1) >>> 0 }))]);
    const conn = await listener.accept();

    link.queuedBytes = 4 << 20;
    void conn.write(new Uint8Array(20 * MSS).fill(7));
    await turn();
    const first = dataSegments(link);
    expect(first.map((segment) => segment.payload.length)).toEqual([MSS]);
    expect(stack.counters('tcp').get('transmit_queue_waits')).toBe(1);

    // The queue drained; the ACK of the first segment lets the (slow-start grown) window go.
    link.queuedBytes = 0;
    link.inject([tcpPacket(tcpSegment({ seq: PEER_ISN + 1, ack: (iss + 1 + MSS) >>> 0 }))]);
    await turn();
    const next = dataSegments(link);
    expect(next.length).toBeGreaterThanOrEqual(10);
    expect(next[0]!.seq).toBe((iss + 1 + MSS) >>> 0);
    conn.destroy();
    await stack.close();
  });
});
