/**
 * The one software segmentation in the stack: a UDP super-packet (USO, virtio-net GSO type
 * UDP_L4) from the kernel is several datagrams behind one IP header (IPv4, or IPv6's fixed
 * header) and one UDP header, which must reach the UDP layer one by one. (TCP needs none: a TCP
 * super-packet is one segment to TCP, and TCP builds super-segments only for links that segment
 * them, src/link/link.ts.)
 */
import { readUint16 } from '../bytes.js';
import type { IPAddress } from '../wire/address6.js';
import { headerFieldsOf, IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_UDP, writeIPv4Header } from '../wire/ipv4.js';
import { IPV6_HEADER_LENGTH, parseIPv6Packet, writeIPv6Header } from '../wire/ipv6.js';
import { UDP_HEADER_LENGTH, udpDatagramLength, writeUdpDatagram } from '../wire/udp.js';

/**
 * Cut `packet` (IPv4 or IPv6, UDP, then the payload of every datagram) into datagrams of
 * `segmentSize` payload bytes, the last one fewer, as the kernel's __udp_gso_segment does for a
 * device without USO: each behind a copy of the IP header (IPv4: identification counted up,
 * length and checksum rewritten, options left out; IPv6: payload length rewritten) and of the
 * ports, with its own length and a full checksum. Fresh buffers, so the caller's packet may be
 * reused at once. Undefined for what is not a UDP packet with a positive segment size (an IPv4
 * fragment, or an IPv6 packet with extension headers, which the kernel's UDP does not send with
 * USO, included).
 */
export function splitUdpSuperPacket(packet: Uint8Array, segmentSize: number): Uint8Array[] | undefined {
  if (segmentSize <= 0) return undefined;
  let writeHeader: (datagram: Uint8Array, udpLength: number, index: number) => void;
  let headerLength: number;
  let source: IPAddress;
  let destination: IPAddress;
  let payload: Uint8Array;
  if (packet.length > 0 && packet[0]! >>> 4 === 6) {
    const parsed = parseIPv6Packet(packet);
    if (!parsed.ok || parsed.header.nextHeader !== PROTOCOL_UDP) return undefined;
    const header = parsed.header;
    headerLength = IPV6_HEADER_LENGTH;
    ({ source, destination } = header);
    payload = parsed.packet.subarray(IPV6_HEADER_LENGTH);
    writeHeader = (datagram, udpLength) => writeIPv6Header(datagram, 0, { ...header, payloadLength: udpLength });
  } else {
    const parsed = parseIPv4Packet(packet);
    if (!parsed.ok) return undefined;
    const header = parsed.header;
    if (header.protocol !== PROTOCOL_UDP || header.moreFragments || header.fragmentOffset !== 0) return undefined;
    headerLength = IPV4_MIN_HEADER;
    ({ source, destination } = header);
    payload = parsed.payload;
    writeHeader = (datagram, udpLength, index) =>
      writeIPv4Header(datagram, 0, { ...headerFieldsOf(header, udpLength), identification: (header.identification + index) & 0xffff });
  }
  if (payload.length < UDP_HEADER_LENGTH) return undefined;
  const sourcePort = readUint16(payload, 0);
  const destinationPort = readUint16(payload, 2);
  const data = payload.subarray(UDP_HEADER_LENGTH);
  const datagrams: Uint8Array[] = [];
  for (let at = 0, index = 0; at < data.length; at += segmentSize, index++) {
    const piece = data.subarray(at, Math.min(at + segmentSize, data.length));
    const udpLength = udpDatagramLength(piece.length);
    const datagram = new Uint8Array(headerLength + udpLength);
    writeHeader(datagram, udpLength, index);
    writeUdpDatagram(datagram, headerLength, sourcePort, destinationPort, piece, source, destination);
    datagrams.push(datagram);
  }
  return datagrams;
}
