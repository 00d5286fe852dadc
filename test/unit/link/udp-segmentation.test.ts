import { describe, expect, it } from 'vitest';
import { splitUdpSuperPacket } from '../../../src/link/udp-segmentation.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_TCP, PROTOCOL_UDP, writeIPv4Header } from '../../../src/wire/ipv4.js';
import { parseIPv6Address } from '../../../src/wire/address6.js';
import { IPV6_HEADER_LENGTH, NEXT_HEADER_DESTINATION_OPTIONS, parseIPv6Packet, writeIPv6Header } from '../../../src/wire/ipv6.js';
import { parseUdpDatagram } from '../../../src/wire/udp.js';

const source = parseIPv4Address('10.0.0.1')!;
const destination = parseIPv4Address('10.0.0.2')!;

/** A USO super-packet as the kernel hands it over: one IPv4 and UDP header, `payload` behind, the UDP checksum only partial. */
function superPacket(payload: Uint8Array, protocol = PROTOCOL_UDP): Uint8Array {
  const packet = new Uint8Array(IPV4_MIN_HEADER + 8 + payload.length);
  writeIPv4Header(packet, 0, { source, destination, protocol, payloadLength: 8 + payload.length, identification: 0xfffe });
  packet.set([0x9c, 0x40, 0x00, 0x07], IPV4_MIN_HEADER); // ports 40000 -> 7
  packet[IPV4_MIN_HEADER + 4] = ((8 + payload.length) >> 8) & 0xff;
  packet[IPV4_MIN_HEADER + 5] = (8 + payload.length) & 0xff;
  packet[IPV4_MIN_HEADER + 6] = 0x12; // a partial sum, not a checksum
  packet.set(payload, IPV4_MIN_HEADER + 8);
  return packet;
}

describe('splitUdpSuperPacket', () => {
  it('cuts the payload into datagrams of the segment size, each with its own headers and a full checksum', () => {
    const payload = new Uint8Array(2500).map((_, i) => i % 253);
    const datagrams = splitUdpSuperPacket(superPacket(payload), 1000)!;
    expect(datagrams.map((d) => d.length)).toEqual([1028, 1028, 528]);
    datagrams.forEach((datagram, index) => {
      const ip = parseIPv4Packet(datagram);
      if (!ip.ok) throw new Error(ip.reason);
      expect(ip.header.identification).toBe((0xfffe + index) & 0xffff);
      expect(ip.header.protocol).toBe(PROTOCOL_UDP);
      const udp = parseUdpDatagram(ip.payload, source, destination);
      if (!udp.ok) throw new Error(udp.reason);
      expect([udp.datagram.sourcePort, udp.datagram.destinationPort]).toEqual([40000, 7]);
      expect(udp.datagram.payload).toEqual(payload.subarray(index * 1000, Math.min(2500, (index + 1) * 1000)));
    });
  });

  it('cuts an IPv6 super-packet the same way, each datagram with its payload length and a checksum over the IPv6 pseudo-header', () => {
    const source6 = parseIPv6Address('fd00::1')!;
    const destination6 = parseIPv6Address('fd00::2')!;
    const payload = new Uint8Array(2500).map((_, i) => i % 251);
    const build = (nextHeader: number) => {
      const packet = new Uint8Array(IPV6_HEADER_LENGTH + 8 + payload.length);
      writeIPv6Header(packet, 0, {
        source: source6,
        destination: destination6,
        nextHeader,
        payloadLength: 8 + payload.length,
        flowLabel: 5,
      });
      packet.set([0x9c, 0x40, 0x00, 0x07, ((8 + payload.length) >> 8) & 0xff, (8 + payload.length) & 0xff, 0x12, 0], IPV6_HEADER_LENGTH);
      packet.set(payload, IPV6_HEADER_LENGTH + 8);
      return packet;
    };
    const datagrams = splitUdpSuperPacket(build(PROTOCOL_UDP), 1200)!;
    expect(datagrams.map((d) => d.length)).toEqual([1248, 1248, 148]);
    datagrams.forEach((datagram, index) => {
      const ip = parseIPv6Packet(datagram);
      if (!ip.ok) throw new Error(ip.reason);
      expect(ip.header).toMatchObject({ nextHeader: PROTOCOL_UDP, flowLabel: 5, payloadLength: datagram.length - IPV6_HEADER_LENGTH });
      const udp = parseUdpDatagram(ip.packet.subarray(IPV6_HEADER_LENGTH), source6, destination6);
      if (!udp.ok) throw new Error(udp.reason);
      expect(udp.datagram.payload).toEqual(payload.subarray(index * 1200, Math.min(2500, (index + 1) * 1200)));
    });
    // Extension headers are not what the kernel's UDP sends with USO: refused.
    expect(splitUdpSuperPacket(build(NEXT_HEADER_DESTINATION_OPTIONS), 1200)).toBeUndefined();
  });

  it('refuses what is not UDP, or a zero segment size', () => {
    expect(splitUdpSuperPacket(superPacket(new Uint8Array(100), PROTOCOL_TCP), 10)).toBeUndefined();
    expect(splitUdpSuperPacket(superPacket(new Uint8Array(100)), 0)).toBeUndefined();
    expect(splitUdpSuperPacket(new Uint8Array(10), 10)).toBeUndefined();
  });
});
