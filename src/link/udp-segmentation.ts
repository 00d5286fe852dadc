/**
 * The one software segmentation in the stack: a UDP super-packet (USO, virtio-net GSO type
 * UDP_L4) from the kernel is several datagrams behind one IPv4 and one UDP header, which must
 * reach the UDP layer one by one. (TCP needs none: a TCP super-packet is one segment to TCP, and
 * TCP builds super-segments only for links that segment them, src/link/link.ts.)
 */
import { readUint16 } from '../bytes.js';
import { headerFieldsOf, IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_UDP, writeIPv4Header } from '../wire/ipv4.js';
import { UDP_HEADER_LENGTH, udpDatagramLength, writeUdpDatagram } from '../wire/udp.js';

/**
 * Cut `packet` (IPv4, UDP, then the payload of every datagram) into datagrams of `segmentSize`
 * payload bytes, the last one fewer, as the kernel's __udp_gso_segment does for a device without
 * USO: each behind a copy of the IPv4 header (identification counted up, length and checksum
 * rewritten, options left out) and of the ports, with its own length and a full checksum. Fresh
 * buffers, so the caller's packet may be reused at once. Undefined for what is not an IPv4 UDP
 * packet with a positive segment size.
 */
export function splitUdpSuperPacket(packet: Uint8Array, segmentSize: number): Uint8Array[] | undefined {
  const parsed = parseIPv4Packet(packet);
  if (!parsed.ok || segmentSize <= 0) return undefined;
  const { header, payload } = parsed;
  if (header.protocol !== PROTOCOL_UDP || header.moreFragments || header.fragmentOffset !== 0 || payload.length < UDP_HEADER_LENGTH) {
    return undefined;
  }
  const sourcePort = readUint16(payload, 0);
  const destinationPort = readUint16(payload, 2);
  const data = payload.subarray(UDP_HEADER_LENGTH);
  const datagrams: Uint8Array[] = [];
  for (let at = 0, index = 0; at < data.length; at += segmentSize, index++) {
    const piece = data.subarray(at, Math.min(at + segmentSize, data.length));
    const udpLength = udpDatagramLength(piece.length);
    const datagram = new Uint8Array(IPV4_MIN_HEADER + udpLength);
    writeIPv4Header(datagram, 0, { ...headerFieldsOf(header, udpLength), identification: (header.identification + index) & 0xffff });
    writeUdpDatagram(datagram, IPV4_MIN_HEADER, sourcePort, destinationPort, piece, header.source, header.destination);
    datagrams.push(datagram);
  }
  return datagrams;
}
