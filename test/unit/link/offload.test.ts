/**
 * Offloads through the Link interface, two stacks in memory: TCP super-segments on a link that
 * segments (checked by cutting each one as the kernel does), MTU-sized packets on every link that
 * does not, and received packets whose checksum the link vouches for.
 */
import { describe, expect, it } from 'vitest';
import { dial, listen } from '../../../src/api/net.js';
import { copyBytes } from '../../../src/bytes.js';
import { impairLink } from '../../../src/link/impair.js';
import { memoryLinkPair, RECEIVED_CHECKSUM_TRUSTED, type Link } from '../../../src/link/link.js';
import { mulberry32 } from '../../../src/random.js';
import { Stack } from '../../../src/stack.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_TCP, writeIPv4Header } from '../../../src/wire/ipv4.js';
import { encodeTcpSegment, parseTcpSegment, TCP_ACK, TCP_FIN, TCP_PSH } from '../../../src/wire/tcp.js';
import { segmentLikeTheKernel } from '../../support/gso.js';
import { pattern, readAll, stackPair } from '../../support/stack-pair.js';

interface SentPacket {
  packet: Uint8Array;
  segmentSize: number | undefined;
}

/** Wrap `link` to keep a copy of every packet sent through it, with its segment size. */
function recording(link: Link, sent: SentPacket[]): Link {
  return {
    mtu: link.mtu,
    tcpSegmentation: link.tcpSegmentation,
    setReceiver: (receiver) => link.setReceiver(receiver),
    send(packet, segmentSize) {
      sent.push({ packet: copyBytes(packet), segmentSize });
      link.send(packet, segmentSize);
    },
    close: () => link.close(),
  };
}

/** Client (stack A) sends `upload`, server (stack B) answers `download`; both halves read whole. */
async function exchange(a: Stack, b: Stack, upload: Uint8Array, download: Uint8Array): Promise<{ received: Buffer; answered: Buffer }> {
  const listener = await listen('tcp', ':8080', { stack: b });
  const accepting = listener.accept();
  const client = await dial('tcp', '10.0.0.2:8080', { stack: a });
  const server = await accepting;
  const serving = (async () => {
    const received = await readAll(server);
    await server.write(download);
    server.close();
    return received;
  })();
  await client.write(upload);
  client.closeWrite();
  const answered = await readAll(client);
  const received = await serving;
  client.close();
  listener.close();
  return { received, answered };
}

describe('TCP segmentation offload on a link', () => {
  it('moves 2 MiB up and 1 MiB down byte for byte in super-segments the kernel would cut into valid segments', async () => {
    const sent: SentPacket[] = [];
    const { a, b } = stackPair({ tcpSegmentation: true, wrap: (link) => recording(link, sent) });
    const upload = pattern(2 * 1024 * 1024, 7);
    const download = pattern(1024 * 1024, 11);
    const { received, answered } = await exchange(a, b, upload, download);
    expect(received.equals(upload)).toBe(true);
    expect(answered.equals(download)).toBe(true);

    const superSegments = sent.filter((s) => s.segmentSize !== undefined);
    expect(superSegments.length).toBeGreaterThan(0);
    let pieces = 0;
    for (const { packet, segmentSize } of superSegments) {
      expect(packet.length).toBeGreaterThan(1500);
      expect(packet.length).toBeLessThanOrEqual(65535);
      const segments = segmentLikeTheKernel(packet, segmentSize!);
      pieces += segments.length;
      segments.forEach((segment, index) => {
        expect(segment.length).toBeLessThanOrEqual(1500);
        const ip = parseIPv4Packet(segment);
        if (!ip.ok) throw new Error(ip.reason);
        // 'verify': the partial checksum seed finishes into a correct checksum for each piece.
        const tcp = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
        if (!tcp.ok) throw new Error(tcp.reason);
        if (index < segments.length - 1) {
          expect(tcp.segment.payload.length).toBe(segmentSize);
          expect(tcp.segment.flags & (TCP_PSH | TCP_FIN)).toBe(0);
        }
      });
    }
    // The receiver took each super-segment as one segment.
    const sentByA = a.counters('tcp').get('segments_sent');
    const receivedByB = b.counters('tcp').get('segments_received');
    expect(receivedByB).toBeLessThan(sentByA - pieces / 2);
    expect(b.counters('tcp').get('drop.bad_checksum')).toBe(0);
    expect(sent.every((s) => s.segmentSize !== undefined || s.packet.length <= 1500)).toBe(true);
    await Promise.all([a.close(100), b.close(100)]);
  });

  it('builds every packet in one reused memory for a link that copies on send, and only then', async () => {
    // Link.copiesOnSend: the link copies the packet before send returns (the TUN rings), so the
    // IP layer may hand TCP the same memory for every packet; this link copies and then checks.
    const memories = (copiesOnSend: boolean) => {
      const seen = new Set<ArrayBufferLike>();
      let packets = 0;
      const wrap = (link: Link): Link => ({
        mtu: link.mtu,
        tcpSegmentation: link.tcpSegmentation,
        copiesOnSend,
        setReceiver: (receiver) => link.setReceiver(receiver),
        send(packet, segmentSize) {
          seen.add(packet.buffer);
          packets++;
          link.send(copiesOnSend ? copyBytes(packet) : packet, segmentSize);
        },
        close: () => link.close(),
      });
      return { seen, count: () => packets, wrap };
    };
    for (const copiesOnSend of [true, false]) {
      const sends = memories(copiesOnSend);
      const { a, b } = stackPair({ tcpSegmentation: true, wrap: sends.wrap });
      const upload = pattern(2 * 1024 * 1024, 3);
      const download = pattern(512 * 1024, 5);
      const { received, answered } = await exchange(a, b, upload, download);
      expect(received.equals(upload)).toBe(true);
      expect(answered.equals(download)).toBe(true);
      expect(sends.count()).toBeGreaterThan(20);
      expect(sends.seen.size).toBe(copiesOnSend ? 1 : sends.count());
      await Promise.all([a.close(100), b.close(100)]);
    }
  });

  it('recovers from lost super-segments: each is many segments lost at once, resent segment by segment', async () => {
    const random = mulberry32(5);
    let dropped = 0;
    // Drops 3% of what A sends, a super-segment whole, as a path that loses the burst would.
    const lossy = (link: Link): Link => ({
      mtu: link.mtu,
      tcpSegmentation: link.tcpSegmentation,
      setReceiver: (receiver) => link.setReceiver(receiver),
      send(packet, segmentSize) {
        if (random() < 0.03) {
          dropped++;
          return;
        }
        link.send(packet, segmentSize);
      },
      close: () => link.close(),
    });
    const { a, b } = stackPair({ tcpSegmentation: true, wrap: lossy });
    const upload = pattern(4 * 1024 * 1024, 9);
    const { received } = await exchange(a, b, upload, new Uint8Array(1));
    expect(received.equals(upload)).toBe(true);
    expect(dropped).toBeGreaterThan(3);
    expect(a.counters('tcp').get('retransmissions')).toBeGreaterThan(dropped);
    await Promise.all([a.close(100), b.close(100)]);
  }, 30_000);

  it('sends only MTU-sized packets on a link without segmentation, and under impair on one with it', async () => {
    for (const tcpSegmentation of [false, true]) {
      const sent: SentPacket[] = [];
      const { a, b } = stackPair({
        tcpSegmentation,
        wrap: (link) => {
          const recorded = recording(link, sent);
          // impairLink works on MTU-sized packets: it offers no segmentation to the stack above.
          return tcpSegmentation ? impairLink(recorded, { loss: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0 }) : recorded;
        },
      });
      const upload = pattern(512 * 1024, 3);
      const { received } = await exchange(a, b, upload, new Uint8Array(10));
      expect(received.equals(upload)).toBe(true);
      expect(sent.length).toBeGreaterThan(300);
      expect(sent.every((s) => s.segmentSize === undefined && s.packet.length <= 1500)).toBe(true);
      await Promise.all([a.close(100), b.close(100)]);
    }
  });

  it('accepts a TCP packet larger than the MTU with a partial checksum only when the link vouches for it', () => {
    const [link] = memoryLinkPair(1500);
    const stack = new Stack({ link, address: '10.0.0.2' });
    const source = parseIPv4Address('10.0.0.1')!;
    const destination = parseIPv4Address('10.0.0.2')!;
    const superSegment = encodeTcpSegment(
      {
        sourcePort: 40000,
        destinationPort: 9999,
        seq: 1,
        ack: 1,
        flags: TCP_ACK,
        window: 1000,
        urgentPointer: 0,
        options: {},
        payload: pattern(20_000, 1),
      },
      source,
      destination,
      IPV4_MIN_HEADER,
      'partial',
    );
    writeIPv4Header(superSegment, 0, {
      source,
      destination,
      protocol: PROTOCOL_TCP,
      payloadLength: superSegment.length - IPV4_MIN_HEADER,
      dontFragment: true,
    });
    const tcp = stack.counters('tcp');
    stack.receiveBatch([superSegment]);
    expect(tcp.get('drop.bad_checksum')).toBe(1);
    stack.receiveBatch([superSegment], Uint8Array.of(RECEIVED_CHECKSUM_TRUSTED));
    expect(tcp.get('drop.bad_checksum')).toBe(1);
    // Checked and demultiplexed as one segment: nothing listens there, so it is answered with a RST.
    expect(tcp.get('segments_received')).toBe(1);
    expect(tcp.get('drop.no_connection')).toBe(1);
    void stack.close(0);
  });
});
