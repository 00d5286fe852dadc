import { describe, expect, it } from 'vitest';
import { splitUdpSuperPacket } from '../../../src/link/udp-segmentation.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_TCP, PROTOCOL_UDP, writeIPv4Header } from '../../../src/wire/ipv4.js';
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

  it('refuses what is not IPv4 UDP, or a zero segment size', () => {
    expect(splitUdpSuperPacket(superPacket(new Uint8Array(100), PROTOCOL_TCP), 10)).toBeUndefined();
    expect(splitUdpSuperPacket(superPacket(new Uint8Array(100)), 0)).toBeUndefined();
    expect(splitUdpSuperPacket(new Uint8Array(10), 10)).toBeUndefined();
  });
});
