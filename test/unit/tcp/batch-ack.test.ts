/**
 * Acknowledgments per batch (issue 10, a lean data path): in-order data that the every-second-
 * segment rule (RFC 5681 4.2) would ACK is acknowledged once per batch of packets the link hands
 * over, at the end of it, for all the batch brought; what must be acknowledged at once (out-of-order
 * data, RFC 5681 4.2) still is, segment by segment.
 */
import { describe, expect, it } from 'vitest';
import { listen } from '../../../src/api/net.js';
import { FakeClock } from '../../../src/clock.js';
import { Stack } from '../../../src/stack.js';
import { parseIPv4Packet } from '../../../src/wire/ipv4.js';
import { parseTcpSegment, TCP_ACK, TCP_SYN, type TcpSegment } from '../../../src/wire/tcp.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { TEST_DESTINATION, TEST_SOURCE, tcpPacket, tcpSegment } from '../../support/packets.js';

const PEER_ISN = 5000;
const PAYLOAD = 1000;

function sentSegments(link: ReplayLink): TcpSegment[] {
  return link.drain().map((packet) => {
    const ip = parseIPv4Packet(packet);
    if (!ip.ok) throw new Error(ip.reason);
    const tcp = parseTcpSegment(ip.payload, TEST_DESTINATION, TEST_SOURCE);
    if (!tcp.ok) throw new Error(tcp.reason);
    return tcp.segment;
  });
}

/** A stack listening on port 80 with one established connection from 10.0.0.1:40000 (MSS 1000). */
async function established(): Promise<{ link: ReplayLink; stack: Stack; ack: number }> {
  const link = new ReplayLink(1500);
  const stack = new Stack({ link, address: TEST_DESTINATION, clock: new FakeClock(0), manualTimers: true });
  await listen('tcp', ':80', { stack });
  link.inject([tcpPacket(tcpSegment({ seq: PEER_ISN, ack: 0, flags: TCP_SYN, options: { mss: PAYLOAD } }))]);
  const [synAck] = sentSegments(link);
  const ack = (synAck!.seq + 1) >>> 0;
  link.inject([tcpPacket(tcpSegment({ seq: PEER_ISN + 1, ack }))]);
  expect(sentSegments(link)).toEqual([]);
  return { link, stack, ack };
}

function dataPacket(index: number, ack: number): Uint8Array {
  return tcpPacket(tcpSegment({ seq: PEER_ISN + 1 + index * PAYLOAD, ack, payload: new Uint8Array(PAYLOAD).fill(index) }));
}

describe('ACKs per received batch', () => {
  it('ten in-order segments in one batch draw one ACK, for all ten, at the end of the batch', async () => {
    const { link, stack, ack } = await established();
    link.inject(Array.from({ length: 10 }, (_, i) => dataPacket(i, ack)));
    const acks = sentSegments(link);
    expect(acks).toHaveLength(1);
    expect(acks[0]!.flags & TCP_ACK).toBe(TCP_ACK);
    expect(acks[0]!.ack).toBe((PEER_ISN + 1 + 10 * PAYLOAD) >>> 0);
    await stack.close();
  });

  it('the same segments one per batch are ACKed every second segment (RFC 5681 4.2)', async () => {
    const { link, stack, ack } = await established();
    const acked: number[] = [];
    for (let i = 0; i < 4; i++) {
      link.inject([dataPacket(i, ack)]);
      for (const segment of sentSegments(link)) acked.push(segment.ack - PEER_ISN - 1);
    }
    expect(acked).toEqual([2 * PAYLOAD, 4 * PAYLOAD]);
    await stack.close();
  });

  it('out-of-order segments in a batch are each acknowledged at once, with SACK', async () => {
    const { link, stack, ack } = await established();
    // Segment 0 is missing: 1, 2 and 3 are out of order, each draws a duplicate ACK.
    link.inject([dataPacket(1, ack), dataPacket(2, ack), dataPacket(3, ack)]);
    const acks = sentSegments(link);
    expect(acks.map((segment) => segment.ack)).toEqual([PEER_ISN + 1, PEER_ISN + 1, PEER_ISN + 1]);
    await stack.close();
  });
});
