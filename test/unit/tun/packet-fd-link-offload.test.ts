/**
 * The TUN link with virtio-net headers, over a SOCK_SEQPACKET socketpair: link A carries the
 * header, B stands for the kernel and sees A's records whole (header and packet).
 */
import { expect, it } from 'vitest';
import { RECEIVED_CHECKSUM_TRUSTED } from '../../../src/link/link.js';
import { PacketFdLink } from '../../../src/tun/packet-fd-link.js';
import {
  parseVirtioNetHeader,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_MRG_RXBUF_BYTES,
  writeVirtioNetHeader,
} from '../../../src/wire/virtio-net.js';
import { seqpacketPair } from '../../support/seqpacket-pair.js';
import { PROTOCOL_UDP, writeIPv4Header } from '../../../src/wire/ipv4.js';

const HEADER = VIRTIO_NET_HDR_MRG_RXBUF_BYTES;

/** An IPv4 header (IHL 5) and a TCP header (data offset 8 words) in front of `payload` bytes. */
function tcpPacket(payload: number, fill: number): Uint8Array {
  const packet = new Uint8Array(20 + 32 + payload).fill(fill);
  packet[0] = 0x45;
  packet[20 + 12] = 8 << 4;
  return packet;
}

function withHeader(flags: number, gsoType: number, packet: Uint8Array): Uint8Array {
  const record = new Uint8Array(HEADER + packet.length);
  writeVirtioNetHeader(record, 0, { flags, gsoType, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0, numBuffers: 0 }, HEADER);
  record.set(packet, HEADER);
  return record;
}

/** Collect what `link` receives until `count` packets came (with their flags, 0 without). */
function collect(link: PacketFdLink, count: number): Promise<Array<{ packet: Uint8Array; flags: number }>> {
  const got: Array<{ packet: Uint8Array; flags: number }> = [];
  return new Promise((resolve) => {
    link.setReceiver((packets, flags) => {
      packets.forEach((packet, i) => got.push({ packet: packet.slice(), flags: flags?.[i] ?? 0 }));
      if (got.length >= count) resolve(got);
    });
  });
}

it('writes a header in front of each packet: zeros, or a super-segment with NEEDS_CSUM and TCPV4', async () => {
  const [aFd, bFd] = seqpacketPair();
  const a = await PacketFdLink.start(aFd, { mtu: 1500, ringBytes: 1 << 18, virtioNetHeaderBytes: HEADER });
  const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18 });
  expect(a.tcpSegmentation).toBe(true);
  expect(b.tcpSegmentation).toBe(false);
  const kernelSees = collect(b, 2);
  const plain = tcpPacket(100, 1);
  const superSegment = tcpPacket(60_000, 2);
  a.send(plain);
  a.send(superSegment, 1448);
  const [first, second] = await kernelSees;
  expect(parseVirtioNetHeader(first!.packet, 0, HEADER)).toEqual({
    flags: 0,
    gsoType: 0,
    hdrLen: 0,
    gsoSize: 0,
    csumStart: 0,
    csumOffset: 0,
    numBuffers: 0,
  });
  expect(first!.packet.subarray(HEADER)).toEqual(plain);
  expect(parseVirtioNetHeader(second!.packet, 0, HEADER)).toEqual({
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO_TCPV4,
    hdrLen: 52,
    gsoSize: 1448,
    csumStart: 20,
    csumOffset: 16,
    numBuffers: 0,
  });
  expect(second!.packet.subarray(HEADER)).toEqual(superSegment);
  expect(a.stats().superSegmentsOut).toBe(1);
  // A link without the header has no way to pass a segment size on.
  b.send(plain, 1448);
  expect(b.stats().dropsOutInvalid).toBe(1);
  await Promise.all([a.close(), b.close()]);
});

it('carries IPv6 TCP super-segments both ways: GSO_TCPV6 with csum_start 40 out, one trusted segment in', async () => {
  const [aFd, bFd] = seqpacketPair();
  const a = await PacketFdLink.start(aFd, { mtu: 1500, ringBytes: 1 << 18, virtioNetHeaderBytes: HEADER });
  const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18 });
  const tcp6Packet = (payload: number, fill: number): Uint8Array => {
    const packet = new Uint8Array(40 + 32 + payload).fill(fill);
    packet[0] = 0x60;
    packet[40 + 12] = 8 << 4;
    return packet;
  };
  const kernelSees = collect(b, 1);
  const superSegment = tcp6Packet(30_000, 2);
  a.send(superSegment, 1428);
  const [sent] = await kernelSees;
  expect(parseVirtioNetHeader(sent!.packet, 0, HEADER)).toMatchObject({
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO_TCPV6,
    hdrLen: 72,
    gsoSize: 1428,
    csumStart: 40,
    csumOffset: 16,
  });
  const stackSees = collect(a, 1);
  const gso = tcp6Packet(20_000, 3);
  b.send(withHeader(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, gso));
  const [got] = await stackSees;
  expect(got!.flags).toBe(RECEIVED_CHECKSUM_TRUSTED);
  expect(got!.packet).toEqual(gso);
  expect(a.stats().dropsInBadOffload).toBe(0);
  await Promise.all([a.close(), b.close()]);
});

it('reads the header of each received packet: flags for checksums the kernel vouches for, drops for USO', async () => {
  const [aFd, bFd] = seqpacketPair();
  const a = await PacketFdLink.start(aFd, { mtu: 1500, ringBytes: 1 << 18, virtioNetHeaderBytes: HEADER });
  const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18 });
  const stackSees = collect(a, 4);
  const gso = tcpPacket(30_000, 3);
  b.send(withHeader(0, 0, tcpPacket(10, 4)));
  b.send(withHeader(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, gso));
  b.send(withHeader(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP_L4, tcpPacket(3000, 5)));
  b.send(withHeader(VIRTIO_NET_HDR_F_DATA_VALID, 0, tcpPacket(20, 6)));
  b.send(new Uint8Array(5)); // shorter than the header
  b.send(withHeader(0, 0, tcpPacket(30, 7)));
  const got = await stackSees;
  expect(got.map((g) => [g.packet.length, g.flags])).toEqual([
    [62, 0],
    [gso.length, RECEIVED_CHECKSUM_TRUSTED],
    [72, RECEIVED_CHECKSUM_TRUSTED],
    [82, 0],
  ]);
  expect(got[1]!.packet).toEqual(gso);
  expect(a.stats().dropsInBadOffload).toBe(2);
  await Promise.all([a.close(), b.close()]);
});

it('splits a UDP super-packet (USO) into its datagrams', async () => {
  const [aFd, bFd] = seqpacketPair();
  const a = await PacketFdLink.start(aFd, { mtu: 1500, ringBytes: 1 << 18, virtioNetHeaderBytes: HEADER });
  const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18 });
  const stackSees = collect(a, 3);
  const payload = new Uint8Array(2100).fill(9);
  const record = new Uint8Array(HEADER + 28 + payload.length);
  writeVirtioNetHeader(
    record,
    0,
    {
      flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
      gsoType: VIRTIO_NET_HDR_GSO_UDP_L4,
      hdrLen: 28,
      gsoSize: 1000,
      csumStart: 20,
      csumOffset: 6,
      numBuffers: 0,
    },
    HEADER,
  );
  writeIPv4Header(record, HEADER, {
    source: 0x0a000001,
    destination: 0x0a000002,
    protocol: PROTOCOL_UDP,
    payloadLength: 8 + payload.length,
  });
  record.set([0x9c, 0x40, 0x00, 0x07, (2108 >> 8) & 0xff, 2108 & 0xff, 0, 0], HEADER + 20);
  record.set(payload, HEADER + 28);
  b.send(record);
  const got = await stackSees;
  expect(got.map((g) => [g.packet.length, g.flags])).toEqual([
    [1028, 0],
    [1028, 0],
    [128, 0],
  ]);
  expect(a.stats().udpSuperPacketsIn).toBe(1);
  await Promise.all([a.close(), b.close()]);
});
